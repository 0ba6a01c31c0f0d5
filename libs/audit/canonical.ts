import { createHmac } from 'node:crypto';

/** `prev_hash` of the first event, and the hash of an empty chain. */
export const GENESIS_HASH: Buffer = Buffer.alloc(32);

/** The fields of a stored event that its hash covers. Absent optionals are `null`. */
export interface ChainedEvent {
  seq: string;
  id: string;
  /** ISO 8601 with milliseconds, UTC (`2026-01-01T00:00:00.000Z`). */
  at: string;
  tenant: string;
  action: string;
  outcome: string;
  reason: string | null;
  agent: string | null;
  subject: string | null;
  integration: string | null;
  details: unknown;
}

/** An event whose `details` may be given as canonical JSON instead (`canonicalDetails`). */
type EventFields = Omit<ChainedEvent, 'details'> & { details?: unknown };

/**
 * Deterministic JSON: object keys sorted (by UTF-16 code unit) at every depth, no
 * whitespace. Only JSON values are expected (the writer sanitises `details`; the
 * verifier reads them back from jsonb).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError('canonicalJson: not a JSON value');
    return text;
  }
  // Loops and string appends rather than map/filter/join: this runs for every audit event.
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + canonicalJson(value[i]);
    return out + ']';
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    out += (out.length > 1 ? ',' : '') + JSON.stringify(k) + ':' + canonicalJson(v);
  }
  return out + '}';
}

/**
 * The canonical bytes of an event: every covered field, absent ones as `null`. What
 * `canonicalJson` makes of the event as an object, written out in its key order; the writer
 * passes the canonical JSON of `details` it already made (`canonicalDetails`).
 */
export function canonicalEvent(e: EventFields, canonicalDetails: string = canonicalJson(e.details)): string {
  const s = JSON.stringify;
  // Keys in canonicalJson's order (sorted by UTF-16 code unit); every other field is a string or null.
  return (
    `{"action":${s(e.action)},"agent":${s(e.agent)},"at":${s(e.at)},"details":${canonicalDetails},"id":${s(e.id)},` +
    `"integration":${s(e.integration)},"outcome":${s(e.outcome)},"reason":${s(e.reason)},"seq":${s(e.seq)},` +
    `"subject":${s(e.subject)},"tenant":${s(e.tenant)}}`
  );
}

/** hash = HMAC-SHA256(macKey, prev_hash || canonical(event)). */
export function chainHash(macKey: Buffer, prevHash: Buffer, e: EventFields, canonicalDetails?: string): Buffer {
  return createHmac('sha256', macKey).update(prevHash).update(canonicalEvent(e, canonicalDetails), 'utf8').digest();
}

/** Refuses keys too short to be a MAC key (a wiring mistake, not an outage to hide). */
export function assertMacKey(key: unknown): asserts key is Buffer {
  if (!Buffer.isBuffer(key) || key.length < 32) throw new TypeError('audit MAC key must be a Buffer of at least 32 bytes');
}
