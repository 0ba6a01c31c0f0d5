import { createPublicKey, KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import type { DataSource } from 'typeorm';
import { AuditLog, verifyAuditChain } from '../../libs/audit';
import { AnchorInputError, AuditAnchor, parseAnchorLines, retainThrough, verifyWithAnchors } from '../../libs/audit-anchors';
import { VaultConfig } from '../../libs/config';
import { createAuditSigner, createKeyProvider, SystemKeys } from '../../libs/crypto';

export const AUDIT_USAGE = `  audit verify [--anchors FILE|-] [--public-key FILE]
                 recompute the audit hash chain; with anchors (JSON lines as the vault emits them:
                 AUDIT_ANCHOR_FILE, "audit anchor" log lines, audit.anchor webhook bodies) also check
                 each anchor's signature (the key provider's public key, or --public-key PEM/JWK) and
                 that the chain still holds every anchored head; exit 0 if intact, 2 if tampered
  audit retain --anchors FILE|- --before ISO_TIME [--public-key FILE]
                 retention: verify as above, then remove every record up to the newest anchor signed
                 before ISO_TIME (audited as audit.retention); exit 2 (nothing removed) if tampered`;

type WithDatabase = <T>(fn: (ds: DataSource) => Promise<T>) => Promise<T>;

const USAGE_ERROR = 64;

class InputError extends Error {}

interface AnchorInput {
  anchors?: AuditAnchor[];
  publicKey(kid: string): Promise<KeyObject | undefined>;
}

/** `audit verify`: the report on stdout; on a failure, the first anchor it breaks on stderr. Returns the exit code. */
export async function runAuditVerify(
  config: VaultConfig,
  withDatabase: WithDatabase,
  opts: { anchors?: string; publicKey?: string },
): Promise<number> {
  const input = await readInput('verify', config, opts);
  if (typeof input === 'number') return input;
  const provider = createKeyProvider(config);
  await provider.init();
  const report = await withDatabase(async (ds) => {
    const macKey = await new SystemKeys(ds, provider).get('audit-mac');
    if (!input.anchors) return verifyAuditChain(ds, macKey);
    return verifyWithAnchors(ds, macKey, input.anchors, { vault: config.publicUrl, publicKey: input.publicKey });
  });
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  if (!report.ok) tell('verify', report);
  return report.ok ? 0 : 2;
}

/** `audit retain`: only over a chain that verifies against the anchors, and only up to one of them. */
export async function runAuditRetain(
  config: VaultConfig,
  withDatabase: WithDatabase,
  opts: { anchors?: string; publicKey?: string; before?: string },
): Promise<number> {
  const before = Date.parse(opts.before ?? '');
  if (opts.anchors === undefined || !Number.isFinite(before)) {
    process.stderr.write('audit retain: needs --anchors FILE|- and --before ISO_TIME\n');
    return USAGE_ERROR;
  }
  const input = await readInput('retain', config, opts);
  if (typeof input === 'number') return input;
  const provider = createKeyProvider(config);
  await provider.init();
  return withDatabase(async (ds) => {
    const macKey = await new SystemKeys(ds, provider).get('audit-mac');
    const report = await verifyWithAnchors(ds, macKey, input.anchors!, { vault: config.publicUrl, publicKey: input.publicKey });
    if (!report.ok) {
      process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      tell('retain', report);
      return 2;
    }
    const from = BigInt(report.retainedThrough?.seq ?? '0');
    const through = input
      .anchors!.filter((a) => Date.parse(a.at) < before && BigInt(a.seq) > from)
      .sort((a, b) => (BigInt(a.seq) < BigInt(b.seq) ? 1 : -1))[0];
    if (!through) {
      process.stderr.write(`audit retain: no anchor signed before ${opts.before} lies past the current retention point (seq ${from})\n`);
      return USAGE_ERROR;
    }
    const audit = new AuditLog(ds, config, { macKey: async () => macKey });
    const deleted = await retainThrough(ds, audit, through, `cli:${userInfo().username}`);
    await audit.drain();
    process.stdout.write(JSON.stringify({ retained_through: { seq: through.seq, at: through.at }, deleted }, null, 2) + '\n');
    return 0;
  });
}

function tell(cmd: string, report: { failedAnchor?: { seq: string; at?: string }; problem?: string; firstBadSeq?: string }): void {
  const a = report.failedAnchor;
  process.stderr.write(
    a
      ? `audit ${cmd}: anchor seq=${a.seq}${a.at ? ` at=${a.at}` : ''} fails: ${report.problem}\n`
      : `audit ${cmd}: chain broken at seq ${report.firstBadSeq}: ${report.problem}\n`,
  );
}

/** The anchors (if asked for) and where their public keys come from; an exit code when the input is unusable. */
async function readInput(cmd: string, config: VaultConfig, opts: { anchors?: string; publicKey?: string }): Promise<AnchorInput | number> {
  let anchors: AuditAnchor[] | undefined;
  let givenKey: KeyObject | undefined;
  try {
    if (opts.anchors !== undefined)
      anchors = parseAnchorLines(opts.anchors === '-' ? await readStdin() : await readFile(opts.anchors, 'utf8'));
    if (opts.publicKey !== undefined) givenKey = readPublicKey(await readFile(opts.publicKey, 'utf8'));
    if (anchors !== undefined && anchors.length === 0) throw new InputError('the anchors input holds no anchor');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason =
      err instanceof AnchorInputError || err instanceof InputError ? e.message : `cannot read ${e.path ?? 'input'} (${e.code ?? 'error'})`;
    process.stderr.write(`audit ${cmd}: ${reason}\n`);
    return USAGE_ERROR;
  }
  if (!anchors || givenKey) return { anchors, publicKey: async () => givenKey };
  const signer = createAuditSigner(config);
  if (!signer) {
    process.stderr.write(`audit ${cmd}: no public key: set AZURE_KEYVAULT_AUDIT_KEY_NAME or pass --public-key\n`);
    return USAGE_ERROR;
  }
  await signer.init();
  return { anchors, publicKey: (kid) => signer.publicKey(kid) };
}

/** A PEM public key, or a JWK (as JSON). */
function readPublicKey(text: string): KeyObject {
  try {
    const trimmed = text.trim();
    const key = trimmed.startsWith('{')
      ? createPublicKey({ key: JSON.parse(trimmed) as import('node:crypto').JsonWebKey, format: 'jwk' })
      : createPublicKey(trimmed);
    if (key.type !== 'public') throw new Error('not public');
    return key;
  } catch {
    throw new InputError('--public-key must be a PEM public key or a public JWK');
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
