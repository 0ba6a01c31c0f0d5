import { KeyObject, verify } from 'node:crypto';

/**
 * A signed statement "the audit chain of `vault` had reached `seq` with head `hash` at `at`",
 * as emitted (log line, webhook, file) and as read back by `audit verify --anchors`.
 */
export interface AuditAnchor {
  seq: string;
  /** The chain head's hash, hex. */
  hash: string;
  /** ISO 8601, UTC. */
  at: string;
  /** The vault's public URL: which vault's chain this is. */
  vault: string;
  alg: string;
  /** The versioned key id that signed. */
  kid: string;
  /** base64url; ECDSA as raw r||s (JWS form). */
  sig: string;
}

export type AnchoredHead = Pick<AuditAnchor, 'seq' | 'hash' | 'at' | 'vault'>;

const DIGEST: Record<string, string> = { ES256: 'sha256', ES384: 'sha384', ES512: 'sha512', RS256: 'sha256' };
const SEQ = /^(0|[1-9][0-9]{0,18})$/;
const HASH = /^[0-9a-f]{64}$/;
const B64URL = /^[A-Za-z0-9_-]{16,1400}$/;

/** The exact bytes signed: the four fields, in this order, as JSON. Everything else is metadata. */
export function anchorPayload(a: AnchoredHead): Buffer {
  return Buffer.from(JSON.stringify({ seq: a.seq, hash: a.hash, at: a.at, vault: a.vault }), 'utf8');
}

/** Whether `sig` is `kid`'s signature over the anchor's payload under `publicKey`. Never throws on bad input. */
export function anchorSignatureValid(a: AuditAnchor, publicKey: KeyObject): boolean {
  const digest = DIGEST[a.alg];
  if (!digest) return false;
  const isEc = a.alg.startsWith('ES');
  if ((publicKey.asymmetricKeyType === 'ec') !== isEc) return false;
  try {
    return verify(
      digest,
      anchorPayload(a),
      isEc ? { key: publicKey, dsaEncoding: 'ieee-p1363' } : publicKey,
      Buffer.from(a.sig, 'base64url'),
    );
  } catch {
    return false;
  }
}

/** An anchors file that cannot be read as anchors: names the line and the field. */
export class AnchorInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AnchorInputError';
  }
}

/**
 * Anchors from JSON lines as the vault emits them: the anchor itself (the file), a log line whose
 * `anchor` field holds it (`msg: "audit anchor"`), or a webhook body whose `data` holds it. Other
 * log lines and blank lines are skipped; anything else that is not an anchor is an error.
 */
export function parseAnchorLines(text: string): AuditAnchor[] {
  const out: AuditAnchor[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new AnchorInputError(`anchors line ${i + 1}: not JSON`);
    }
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new AnchorInputError(`anchors line ${i + 1}: not a JSON object`);
    if ('msg' in obj && obj.msg !== 'audit anchor') return;
    const candidate = (isObject(obj.anchor) ? obj.anchor : isObject(obj.data) ? obj.data : obj) as Record<string, unknown>;
    out.push(toAnchor(candidate, i + 1));
  });
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function toAnchor(o: Record<string, unknown>, line: number): AuditAnchor {
  const field = (name: keyof AuditAnchor, re: RegExp, what: string): string => {
    const v = o[name];
    if (typeof v !== 'string' || !re.test(v)) throw new AnchorInputError(`anchors line ${line}: ${name} must be ${what}`);
    return v;
  };
  return {
    seq: field('seq', SEQ, 'a decimal sequence number (string)'),
    hash: field('hash', HASH, '64 lower-case hex digits'),
    at: field('at', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/, 'an ISO 8601 UTC time'),
    vault: field('vault', /^\S{1,2048}$/, 'the vault URL'),
    alg: field('alg', /^(ES256|ES384|ES512|RS256)$/, 'ES256, ES384, ES512 or RS256'),
    kid: field('kid', /^\S{1,2048}$/, 'a key id'),
    sig: field('sig', B64URL, 'a base64url signature'),
  };
}
