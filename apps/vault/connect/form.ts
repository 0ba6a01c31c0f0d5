import type { FastifyRequest } from 'fastify';
import { checkCsrf, sessionCookies } from '../../../libs/connect';
import { DomainError } from '../../../libs/kernel';

/** A single string field of an urlencoded form body (repeated or non-string fields count as missing). */
export function formField(req: FastifyRequest, name: string): string | undefined {
  const body = req.body as Record<string, unknown> | null | undefined;
  if (!body || typeof body !== 'object' || !Object.prototype.hasOwnProperty.call(body, name)) return undefined;
  const v = body[name];
  return typeof v === 'string' ? v : undefined;
}

export function cookiesOf(req: FastifyRequest): Map<string, string> {
  return sessionCookies(req.headers.cookie);
}

/**
 * Every state-changing page request: the CSRF token of the session's browser secret, and, when
 * the browser says where the form came from, that it came from the vault itself.
 */
export function checkForm(req: FastifyRequest, publicOrigin: string, secret: string, sessionId: string): void {
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== publicOrigin)
    throw new DomainError('forbidden', "This form was not sent from the vault's own page.");
  if (!/application\/x-www-form-urlencoded/i.test(String(req.headers['content-type'] ?? '')))
    throw new DomainError('invalid_request', 'Send the form from the page.');
  if (!checkCsrf(secret, sessionId, formField(req, 'csrf')))
    throw new DomainError('forbidden', 'This form has expired or was not sent from this page. Reload the page and try again.');
}
