import { HttpException, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { isDatabaseUnavailable } from '../../../libs/db';
import { DomainError, ErrorCode, ErrorCodes } from '../../../libs/kernel';
import { errorSummary } from '../../../libs/observability';

/**
 * How an error is answered, whatever the answer looks like:
 * - `refusal`: a domain refusal (4xx) the caller can act on; its detail is public.
 * - `unavailable`: a dependency (database, key provider, audit) is down; try again later.
 * - `not_implemented`: the operation is not offered here.
 * - `unreadable`: refused by the framework before our code ran (malformed or oversized body,
 *   unknown route, wrong media type); nothing of the request is echoed.
 * - `internal`: anything else. Opaque to the caller; logged under a fresh error id.
 */
export type ErrorKind = 'refusal' | 'unavailable' | 'not_implemented' | 'unreadable' | 'internal';

/** Where the error came from: a `DomainError`, the database being down, the framework, or anything else. */
export type ErrorOrigin = 'domain' | 'database' | 'framework' | 'unknown';

export interface ClassifiedError {
  kind: ErrorKind;
  origin: ErrorOrigin;
  status: number;
  /** A stable code of the contract (CONTRACT.md): the domain's, or what the framework's status maps to. */
  code: string;
  /** Public detail: never a secret, a message of a foreign error, SQL or a stack. */
  detail: string;
  /** Seconds, for 429 and 503. */
  retryAfter?: number;
  /** Extra members of a domain refusal's problem document (`connect_url`, `errors`). */
  extra?: Record<string, unknown>;
  /** Only for `internal`: the id logged with the error's class and code, quoted to the caller. */
  errorId?: string;
}

/** Reason phrases of the statuses the vault answers with. */
export const REASON_PHRASES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

/** Codes of the framework's 4xx (CONTRACT.md); any other 4xx is `invalid_request`. */
export const FRAMEWORK_CODES: Readonly<Record<number, string>> = {
  400: 'invalid_request',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
};

const log = new Logger('errors');

/**
 * The one classification of errors for every renderer (problem+json, the token endpoint's RFC 6749
 * errors, the consent pages, the dashboard). An `internal` error is logged here, once, by class and
 * code only (messages can carry data).
 */
export function classify(err: unknown): ClassifiedError {
  if (err instanceof DomainError) return classifyDomain(err);
  if (isDatabaseUnavailable(err)) {
    return {
      kind: 'unavailable',
      origin: 'database',
      status: 503,
      code: 'unavailable',
      detail: 'The database is unavailable; nothing was released or stored.',
      retryAfter: 1,
    };
  }
  const status = err instanceof HttpException ? err.getStatus() : (err as { statusCode?: unknown } | null | undefined)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const detail = status === 400 ? 'The request body is not valid JSON or is malformed.' : (REASON_PHRASES[status] ?? 'Client error');
    return { kind: 'unreadable', origin: 'framework', status, code: FRAMEWORK_CODES[status] ?? 'invalid_request', detail };
  }
  return asInternal(err);
}

/**
 * An error answered as internal: a fresh error id, logged with the error's class and code. Also
 * for a renderer that has no answer of its own for an error's kind (the token endpoint for a
 * domain refusal that is not an OAuth error).
 */
export function asInternal(err: unknown): ClassifiedError {
  const errorId = randomUUID();
  // The same summary the request log's error serializer writes: class and code, never a message.
  const { type, code } = errorSummary(err);
  log.error(`error_id=${errorId} type=${type} code=${code ?? '-'}`);
  return {
    kind: 'internal',
    origin: err instanceof DomainError ? 'domain' : 'unknown',
    status: ErrorCodes.internal_error,
    code: 'internal_error',
    detail: 'An internal error occurred.',
    errorId,
  };
}

/** Every code of the contract is placed here: a new one does not compile until it is. */
function classifyDomain(err: DomainError): ClassifiedError {
  const code: ErrorCode = err.code;
  const answer = (kind: ErrorKind): ClassifiedError => ({
    kind,
    origin: 'domain',
    status: ErrorCodes[code],
    code,
    detail: err.detail,
    ...(err.details.retryAfter !== undefined ? { retryAfter: err.details.retryAfter } : {}),
    ...(err.details.extra ? { extra: err.details.extra } : {}),
  });
  switch (code) {
    case 'invalid_request':
    case 'validation_failed':
    case 'invalid_token':
    case 'invalid_dpop_proof':
    case 'not_an_agent_token':
    case 'not_a_user_token':
    case 'scope_missing':
    case 'policy_denied':
    case 'scope_exceeds_policy':
    case 'approval_required':
    case 'forbidden':
    case 'not_found':
    case 'connection_not_found':
    case 'integration_not_found':
    case 'conflict':
    case 'needs_reauth':
    case 'unsupported_media_type':
    case 'rate_limited':
      return answer('refusal');
    case 'unavailable':
      return answer('unavailable');
    case 'not_implemented':
      return answer('not_implemented');
    case 'internal_error':
      return asInternal(err);
    default:
      return unclassified(code, err);
  }
}

/** `code: never` makes the switch above exhaustive at compile time; at run time (a cast code) fail closed. */
function unclassified(_code: never, err: DomainError): ClassifiedError {
  return asInternal(err);
}
