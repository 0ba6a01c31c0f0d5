import { Secret } from '../kernel';
import { AUDIT_OUTCOMES, AuditEventInput, AuditInputError } from './audit.types';
import { canonicalAfterSeq, canonicalBeforeSeq, canonicalJson } from './canonical';
import { randomEventId } from './event-id';
import { JsonText } from './json-text';

/**
 * An event ready to be chained: its canonical text (`canonicalEvent`) is `beforeSeq + seq +
 * afterSeq + '}'`, made once here, hashed by the writer and inserted as it is (`details` in it is
 * `canonicalJson(sanitizeDetails(details))`), so what is stored is what was hashed.
 */
export interface PreparedEvent {
  id: string;
  beforeSeq: string;
  afterSeq: string;
}

export const ACTION_PATTERN = /^[a-z][a-z0-9_-]{0,31}(\.[a-z][a-z0-9_-]{0,31}){0,3}$/;
const REDACTED = '[REDACTED]';
const MAX_TEXT = 512;
const MAX_DEPTH = 8;
const MAX_DETAILS_CHARS = 16 * 1024;
/** Key fragments (lower-case, separators removed) that name a secret. */
const SECRET_KEY_FRAGMENTS = [
  'token',
  'secret',
  'password',
  'passwd',
  'passphrase',
  'apikey',
  'privatekey',
  'authorization',
  'cookie',
  'assertion',
  'codeverifier',
];
/** NUL is refused by Postgres text and jsonb; a lone surrogate would not survive the round trip. */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this refuses
const UNSTORABLE = /\u0000|\p{Cs}/u;

/**
 * Validates an input, gives it an id and a time, and turns `details` into plain JSON.
 * Throws `AuditInputError` (a programming error) for anything the log must not or cannot store.
 */
export function prepareEvent(input: AuditEventInput, now: Date = new Date()): PreparedEvent {
  if (typeof input !== 'object' || input === null) throw new AuditInputError('audit event must be an object');
  if (typeof input.action !== 'string' || !ACTION_PATTERN.test(input.action))
    throw new AuditInputError('audit event action must be a dotted lower-case name');
  if (!(AUDIT_OUTCOMES as readonly string[]).includes(input.outcome))
    throw new AuditInputError('audit event outcome must be allowed, denied or error');
  const json = encodeDetails(input.details);
  // Checked in this order so that an input with several faults names the same one as before.
  const at = now.toISOString();
  const tenant = requiredText(input.tenant, 'tenant');
  const reason = optionalText(input.reason, 'reason');
  const agent = optionalText(input.agent, 'agent');
  const subject = optionalText(input.subject, 'subject');
  const integration = optionalText(input.integration, 'integration');
  const id = randomEventId();
  return {
    id,
    beforeSeq: canonicalBeforeSeq(
      { id, at, tenant, action: input.action, outcome: input.outcome, reason, agent, subject, integration },
      json,
    ),
    afterSeq: canonicalAfterSeq({ subject, tenant }),
  };
}

/** Secret → "[REDACTED]", Date → ISO string; secret-like keys and non-JSON values are refused. */
export function sanitizeDetails(details: Record<string, unknown> | undefined): Record<string, unknown> {
  if (details === undefined || details === null) return {};
  if (!isPlainObject(details)) throw new AuditInputError('audit details must be a plain object');
  const clean = sanitizeValue(details, ROOT, 0) as Record<string, unknown>;
  if (canonicalJson(clean).length > MAX_DETAILS_CHARS) throw new AuditInputError('audit details are too large');
  return clean;
}

/**
 * `canonicalJson(sanitizeDetails(details))` in one pass, with the same checks: no sanitised copy,
 * no sorted key arrays for small objects, no path strings unless one is thrown, no intermediate
 * strings (written into a reused buffer). It runs for every audit event (a spec checks it against
 * the two-step form).
 */
export function encodeDetails(details: Record<string, unknown> | undefined): string {
  if (details === undefined || details === null) return '{}';
  if (!isPlainObject(details)) throw new AuditInputError('audit details must be a plain object');
  AT.length = 0; // a throw leaves it where it was
  DETAILS.reset();
  encodeValue(details, 0, DETAILS);
  if (DETAILS.chars > MAX_DETAILS_CHARS) throw new AuditInputError('audit details are too large');
  return DETAILS.text();
}

const DETAILS = new JsonText();

/** Where `encodeValue` is, for error messages: keys and indexes from the root, pushed and popped. */
const AT: Array<string | number> = [];
const atPath = (): string => {
  let out = 'details';
  for (const p of AT) out += typeof p === 'number' ? `[${p}]` : `.${p}`;
  return out;
};

function encodeValue(value: unknown, depth: number, out: JsonText): void {
  if (depth > MAX_DEPTH) throw new AuditInputError(`${atPath()}: nested too deeply`);
  if (value instanceof Secret) return out.raw(REDACTED_JSON);
  if (value === null) return out.raw('null');
  if (typeof value === 'boolean') return out.raw(value ? 'true' : 'false');
  if (typeof value === 'string') {
    if (UNSTORABLE.test(value)) throw new AuditInputError(`${atPath()}: contains characters that cannot be stored`);
    return out.str(value);
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new AuditInputError(`${atPath()}: numbers must be finite`);
    return out.raw(JSON.stringify(value));
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new AuditInputError(`${atPath()}: invalid date`);
    return out.str(value.toISOString());
  }
  if (Array.isArray(value)) {
    out.raw('[');
    for (let i = 0; i < value.length; i++) {
      AT.push(i);
      if (i) out.raw(',');
      encodeValue(value[i], depth + 1, out);
      AT.pop();
    }
    return out.raw(']');
  }
  if (isPlainObject(value)) {
    // Every key checked in the object's own order first (as sanitizeValue does), then the values in canonical order.
    const keys = Object.keys(value);
    for (const key of keys) checkKey(key, atPath);
    sortKeys(keys);
    out.raw('{');
    let first = true;
    for (const key of keys) {
      const v = value[key];
      if (v === undefined) continue;
      AT.push(key);
      out.raw(keyJson(key)[first ? 0 : 1]);
      first = false;
      encodeValue(v, depth + 1, out);
      AT.pop();
    }
    return out.raw('}');
  }
  throw new AuditInputError(`${atPath()}: only JSON values and Secret are allowed (got ${typeof value})`);
}

const REDACTED_JSON = JSON.stringify(REDACTED);

/** Sorts in place by UTF-16 code unit, as `Array.prototype.sort` with no comparator; small arrays without its scratch space. */
function sortKeys(keys: string[]): void {
  if (keys.length > 16) {
    keys.sort();
    return;
  }
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i];
    let j = i - 1;
    while (j >= 0 && keys[j] > k) {
      keys[j + 1] = keys[j];
      j--;
    }
    keys[j + 1] = k;
  }
}

/** Where a value sits in `details`, for error messages: made only when one is thrown (the hot path never builds it). */
type PathOf = () => string;
const ROOT: PathOf = () => 'details';

function sanitizeValue(value: unknown, path: PathOf, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new AuditInputError(`${path()}: nested too deeply`);
  if (value instanceof Secret) return REDACTED;
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    if (UNSTORABLE.test(value)) throw new AuditInputError(`${path()}: contains characters that cannot be stored`);
    return value;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new AuditInputError(`${path()}: numbers must be finite`);
    return value;
  }
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new AuditInputError(`${path()}: invalid date`);
    return value.toISOString();
  }
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = sanitizeValue(value[i], () => `${path()}[${i}]`, depth + 1);
    return out;
  }
  if (isPlainObject(value)) {
    // No prototype: a "__proto__" key stays an ordinary key.
    const out: Record<string, unknown> = Object.create(null);
    for (const key of Object.keys(value)) {
      checkKey(key, path);
      const v = value[key];
      if (v !== undefined) out[key] = sanitizeValue(v, () => `${path()}.${key}`, depth + 1);
    }
    return out;
  }
  throw new AuditInputError(`${path()}: only JSON values and Secret are allowed (got ${typeof value})`);
}

/**
 * Keys already found storable and not naming a secret, with their JSON as the first key of an object
 * and as a later one (`"key":`, `,"key":`). Events reuse a handful of keys, so the check and the
 * JSON are made once per key, not once per event; bounded so odd keys cannot grow it for ever.
 */
const CHECKED_KEYS = new Map<string, readonly [string, string]>();
const MAX_CHECKED_KEYS = 1024;

function checkKey(key: string, path: PathOf): void {
  if (CHECKED_KEYS.has(key)) return;
  if (UNSTORABLE.test(key) || key.length > 128) throw new AuditInputError(`${path()}: invalid key`);
  const normalized = key.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (SECRET_KEY_FRAGMENTS.some((f) => normalized.includes(f))) {
    throw new AuditInputError(`${path()}.${key}: keys that name secrets are not allowed in audit records`);
  }
  if (CHECKED_KEYS.size < MAX_CHECKED_KEYS) CHECKED_KEYS.set(key, keyTexts(key));
}

/** A checked key's JSON, first and later in an object. */
function keyJson(key: string): readonly [string, string] {
  return CHECKED_KEYS.get(key) ?? keyTexts(key);
}

function keyTexts(key: string): readonly [string, string] {
  const text = `${JSON.stringify(key)}:`;
  return [text, `,${text}`];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function checkText(value: string, field: string): string {
  if (UNSTORABLE.test(value)) throw new AuditInputError(`${field}: contains characters that cannot be stored`);
  return value;
}

function requiredText(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length > MAX_TEXT)
    throw new AuditInputError(`audit event ${field} must be a string of at most ${MAX_TEXT} characters`);
  return checkText(value, field);
}

function optionalText(value: unknown, field: string): string | null {
  return value === undefined || value === null ? null : requiredText(value, field);
}
