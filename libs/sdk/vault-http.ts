import type { VaultAnswer } from './error-mapping';
import { VaultUnavailableError } from './errors';

export const SDK_VERSION = '0.1.0';

/**
 * One HTTP call to the vault with a deadline. A network failure or timeout becomes
 * `VaultUnavailableError` (nothing was released); any answer, good or bad, is returned read.
 */
export async function callVault(fetchImpl: typeof fetch, url: string, init: RequestInit, timeoutMs: number): Promise<VaultAnswer> {
  let res: Response;
  try {
    res = await fetchImpl(url, {
      ...init,
      headers: {
        'user-agent': `credential-vault-sdk/${SDK_VERSION}`,
        accept: 'application/json, application/problem+json',
        ...(init.headers as Record<string, string>),
      },
      redirect: 'manual', // a token must never follow a redirect to another host
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const timedOut = (err as { name?: string } | null)?.name === 'TimeoutError';
    throw new VaultUnavailableError(undefined, {
      detail: timedOut ? `the vault did not answer within ${timeoutMs} ms` : 'the vault could not be reached',
      cause: err,
    });
  }
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    throw new VaultUnavailableError(undefined, { status: res.status, detail: 'the answer of the vault was cut off', cause: err });
  }
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, body };
}
