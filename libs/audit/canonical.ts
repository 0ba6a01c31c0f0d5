import { createHmac } from 'node:crypto';
import { JsonText } from './json-text';

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
  // The parts carry seq's quotes (the writer's seq is digits): here its escaped text goes between them.
  return canonicalBeforeSeq(e, canonicalDetails) + JSON.stringify(e.seq).slice(1, -1) + canonicalAfterSeq(e) + '}';
}

/**
 * `canonicalEvent`'s text up to seq's value, its opening quote included: `{"action":…,"seq":"`.
 * With `canonicalAfterSeq` it lets the writer make an event's text before its seq is known, and
 * reuse it for the batch it inserts (`before + seq + after + '}'` is the canonical text).
 */
export function canonicalBeforeSeq(e: Omit<EventFields, 'seq'>, canonicalDetails: string): string {
  // Keys in canonicalJson's order (sorted by UTF-16 code unit); every other field is a string or null.
  // Written into one buffer: a template literal would make an intermediate string per piece.
  const w = TEXT;
  w.reset();
  w.raw('{"action":');
  w.str(e.action);
  textOrNull(w, ',"agent":', e.agent);
  w.raw(',"at":');
  w.str(e.at);
  w.raw(',"details":');
  w.raw(canonicalDetails);
  w.raw(',"id":');
  w.str(e.id);
  textOrNull(w, ',"integration":', e.integration);
  w.raw(',"outcome":');
  w.str(e.outcome);
  textOrNull(w, ',"reason":', e.reason);
  w.raw(',"seq":"');
  return w.text();
}

/** `canonicalEvent`'s text after seq's value, its closing quote included, without the final `}`: `","subject":…,"tenant":…`. */
export function canonicalAfterSeq(e: Pick<EventFields, 'subject' | 'tenant'>): string {
  const w = TEXT;
  w.reset();
  textOrNull(w, '","subject":', e.subject);
  w.raw(',"tenant":');
  w.str(e.tenant);
  return w.text();
}

const TEXT = new JsonText();

function textOrNull(w: JsonText, key: string, value: string | null): void {
  w.raw(key);
  if (value === null) w.raw('null');
  else w.str(value);
}

/** hash = HMAC-SHA256(macKey, prev_hash || canonical(event)). */
export function chainHash(macKey: Buffer, prevHash: Buffer, e: EventFields, canonicalDetails?: string): Buffer {
  return createHmac('sha256', macKey).update(prevHash).update(canonicalEvent(e, canonicalDetails), 'utf8').digest();
}

/**
 * `chainHash` of an event given as its parts (`canonicalBeforeSeq`, seq as digits, `canonicalAfterSeq`):
 * the same bytes fed to the MAC piece by piece, without joining them into one string first.
 */
export function chainHashOfParts(macKey: Buffer, prevHash: Buffer, beforeSeq: string, seq: string, afterSeq: string): Buffer {
  return createHmac('sha256', macKey).update(prevHash).update(beforeSeq).update(seq).update(afterSeq).update('}').digest();
}

/** Refuses keys too short to be a MAC key (a wiring mistake, not an outage to hide). */
export function assertMacKey(key: unknown): asserts key is Buffer {
  if (!Buffer.isBuffer(key) || key.length < 32) throw new TypeError('audit MAC key must be a Buffer of at least 32 bytes');
}
