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

/** Whether a field or header of this name is redacted from logs. */
export function isSecretKey(name: string): boolean {
  const n = normalize(name);
  return SECRET_NAMES.has(n) || SECRET_SUFFIXES.some((s) => n.endsWith(s));
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
 * A copy of a value about to be logged with every secret-named field replaced by `[REDACTED]`
 * and every `Error` reduced to `errorSummary`, at any depth. Only plain objects and arrays are
 * walked; other objects serialize themselves (`Secret` redacts itself in `toJSON`).
 */
export function scrubSecrets(value: unknown, depth = 0): unknown {
  if (value instanceof Error) return errorSummary(value);
  if (depth > MAX_DEPTH) return Array.isArray(value) || isPlainObject(value) ? '[Object]' : value;
  if (Array.isArray(value)) return value.map((v) => scrubSecrets(v, depth + 1));
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = isSecretKey(k) ? REDACTED : scrubSecrets(v, depth + 1);
  return out;
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
