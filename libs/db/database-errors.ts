import { UnavailableError } from '../kernel';

/**
 * pg / network error codes that mean "the database is not there right now", or not answering in
 * time (57014: statement_timeout cancelled the statement — an overloaded or locked database, not a bug).
 */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  '57014',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
]);

/** pg's and the pool's messages for a connection that is gone or never came (they carry no code). */
const UNAVAILABLE = new RegExp(
  [
    'Connection terminated',
    'timeout exceeded when trying to connect',
    'Client has encountered a connection error',
    'connection is closed',
    'Cannot use a pool after calling end',
    'Query read timeout',
    'not queryable',
  ].join('|'),
  'i',
);

export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string; driverError?: { code?: string } } | undefined;
  const code = e?.code ?? e?.driverError?.code;
  if (code && UNAVAILABLE_CODES.has(code)) return true;
  const msg = e?.message ?? '';
  return UNAVAILABLE.test(msg);
}

/** Runs a database operation, turning connectivity failures into a clean 503 (no SQL or parameters leak). */
export async function withDatabase<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (isDatabaseUnavailable(err)) throw new UnavailableError('database');
    throw err;
  }
}
