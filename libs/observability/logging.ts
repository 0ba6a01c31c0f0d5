import pino, { DestinationStream, LogFn, Logger, LoggerOptions } from 'pino';

export const REDACTED = '[REDACTED]';

/** Field and header names that carry secrets, compared without case, `-` or `_`. */
const SECRET_NAMES = new Set(
  [
    'authorization',
    'proxy-authorization',
    'cookie',
    'set-cookie',
    'x-api-key',
    'api_key',
    'client_secret',
    'secret',
    'password',
    'access_token',
    'refresh_token',
    'id_token',
    'subject_token',
    'actor_token',
    'token',
    'client_assertion',
    'assertion',
    'code',
    'code_verifier',
    'private_key',
    'csrf',
    'state',
    'connect_url',
    'plaintext',
  ].map(normalize),
);
/** …and any name ending like one of these (`session_secret`, `bearer_token`, `db_password`). */
const SECRET_SUFFIXES = ['secret', 'password', 'token', 'apikey', 'privatekey', 'cookie', 'assertion', 'verifier', 'authorization'];

function normalize(name: string): string {
  return name.toLowerCase().replace(/[-_]/g, '');
}

/**
 * Names already judged. Every log line's keys go through `isSecretKey` and lines reuse a handful
 * of names, so each is normalised once, not once per line; bounded so odd names cannot grow it.
 */
const KEY_VERDICTS = new Map<string, boolean>();
const MAX_KEY_VERDICTS = 2048;

/** Whether a field or header of this name is redacted from logs. */
export function isSecretKey(name: string): boolean {
  let secret = KEY_VERDICTS.get(name);
  if (secret === undefined) {
    const n = normalize(name);
    secret = SECRET_NAMES.has(n) || SECRET_SUFFIXES.some((s) => n.endsWith(s));
    if (KEY_VERDICTS.size < MAX_KEY_VERDICTS) KEY_VERDICTS.set(name, secret);
  }
  return secret;
}

const SAFE_TOKEN = /^[A-Za-z0-9_.-]{1,40}$/;

/**
 * An error as logged: its class and code, never its message, stack or fields (a database error
 * carries the SQL and its parameters; an HTTP client error, the request's headers).
 */
export function errorSummary(err: unknown): { type: string; code?: string } {
  const e = err as { name?: unknown; type?: unknown; code?: unknown } | null | undefined;
  const type = [e?.name, e?.type].find((v): v is string => typeof v === 'string' && SAFE_TOKEN.test(v)) ?? 'Error';
  const code = typeof e?.code === 'string' && SAFE_TOKEN.test(e.code) ? e.code : typeof e?.code === 'number' ? String(e.code) : undefined;
  return code === undefined ? { type } : { type, code };
}

const MAX_DEPTH = 8;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * A value about to be logged (a copy when anything changes) with every secret-named field replaced by `[REDACTED]`
 * and every `Error` reduced to `errorSummary`, at any depth. Only plain objects and arrays are
 * walked; other objects serialize themselves (`Secret` redacts itself in `toJSON`).
 */
export function scrubSecrets(value: unknown, depth = 0): unknown {
  if (value instanceof Error) return errorSummary(value);
  if (depth > MAX_DEPTH) return Array.isArray(value) || isPlainObject(value) ? '[Object]' : value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v = scrubSecrets(value[i], depth + 1);
      if (copy === undefined && v !== value[i]) copy = value.slice(0, i);
      if (copy !== undefined) copy.push(v);
    }
    return copy ?? value;
  }
  if (!isPlainObject(value)) return value;
  // Copied only from the first field that changes: most lines (every request line) change nothing.
  const keys = Object.keys(value);
  let out: Record<string, unknown> | undefined;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    const v = value[k];
    const scrubbed = isSecretKey(k) ? REDACTED : scrubSecrets(v, depth + 1);
    if (out === undefined && scrubbed !== v) {
      out = {};
      for (let j = 0; j < i; j++) out[keys[j]] = value[keys[j]];
    }
    if (out !== undefined) out[k] = scrubbed;
  }
  return out ?? value;
}

/** Header paths pino redacts as well (a second fence: the request serializers never emit headers). */
const REDACT_PATHS = ['authorization', 'cookie', 'set-cookie', 'proxy-authorization', 'x-api-key'].flatMap((h) => [
  `req.headers["${h}"]`,
  `res.headers["${h}"]`,
  `headers["${h}"]`,
]);

/**
 * pino makes an error's message the line's message when none is given (`logger.error(err)`,
 * `logger.error({ err })`); error messages can quote SQL parameters or request data, so the
 * line gets the error's class instead.
 */
function withoutErrorMessages(this: Logger, args: Parameters<LogFn>, method: LogFn): void {
  const [first, second] = args as unknown[];
  const err =
    first instanceof Error ? first : (first as { err?: unknown } | null)?.err instanceof Error ? (first as { err: Error }).err : undefined;
  if (err && typeof second !== 'string') {
    const { type, code } = errorSummary(err);
    return method.apply(this, [first, code ? `${type} (${code})` : type]);
  }
  return method.apply(this, args);
}

export interface VaultLoggerOptions {
  /** `LOG_LEVEL`: fatal, error, warn, info, debug, trace or silent. */
  level: string;
  /** Where the JSON lines go (default: stdout). */
  stream?: DestinationStream;
  /** Fields on every line, e.g. `{ service: 'credential-vault-api' }`. */
  base?: Record<string, unknown>;
}

/**
 * The one pino configuration of the vault's processes: JSON lines with an ISO time, secrets
 * redacted by field name at any depth, errors reduced to class and code.
 */
export function createVaultLogger(opts: VaultLoggerOptions): Logger {
  const options: LoggerOptions = {
    level: opts.level,
    base: { pid: process.pid, ...opts.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    serializers: { err: errorSummary },
    hooks: { logMethod: withoutErrorMessages },
    formatters: {
      level: (label) => ({ level: label }),
      log: (obj) => scrubSecrets(obj) as Record<string, unknown>,
    },
  };
  return opts.stream ? pino(options, opts.stream) : pino(options);
}
