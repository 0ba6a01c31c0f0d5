import { authenticate, ClientCredentials } from './client-auth';
import { exchangeError, VaultAnswer } from './error-mapping';
import { ApprovalDeniedError, ApprovalExpiredError, VaultError } from './errors';
import { parseApproved } from './responses';
import type { ApprovalOptions, ApprovedToken } from './types';
import { callVault } from './vault-http';

const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';
/** CIBA §7.3: 5 s when the vault does not say. */
const DEFAULT_INTERVAL_S = 5;
/** Each pending answer stretches the wait a little (polling an unanswered request less and less), up to this many intervals. */
const BACKOFF_FACTOR = 1.25;
const MAX_BACKOFF_INTERVALS = 4;

export interface ApprovalDeps {
  url: string;
  credentials: ClientCredentials;
  fetch: typeof fetch;
  timeoutMs: number;
  now: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * CIBA poll mode (issue 17 §3): `POST /oauth2/bc-authorize`, then polls `/oauth2/token` until the
 * user answers. Waits at least the vault's `interval`; a pending answer stretches the wait (×1.25,
 * up to 4 intervals), `slow_down` adds 5 s to the interval as CIBA requires. Denied →
 * `ApprovalDeniedError`; expired (or past `requestedExpiry` without an answer) → `ApprovalExpiredError`.
 */
export async function withApproval(d: ApprovalDeps, integrations: string[], o: ApprovalOptions): Promise<ApprovedToken> {
  if (!integrations.length || integrations.some((i) => typeof i !== 'string' || !i)) throw new TypeError('integration is required');
  if (!o?.userToken) throw new TypeError('withApproval needs { userToken }');
  const form = new URLSearchParams({ scope: integrations.map((i) => `connections:${i}`).join(' '), login_hint_token: o.userToken });
  if (o.bindingMessage !== undefined) form.set('binding_message', o.bindingMessage);
  if (o.authorizationDetails !== undefined) form.set('authorization_details', JSON.stringify(o.authorizationDetails));
  if (o.requestedExpiry !== undefined) form.set('requested_expiry', String(o.requestedExpiry));
  const asked = await post(d, '/oauth2/bc-authorize', form);
  if (asked.status !== 200) throw exchangeError(asked);
  const b = (asked.body ?? {}) as Record<string, unknown>;
  if (typeof b.auth_req_id !== 'string' || typeof b.expires_in !== 'number')
    throw new VaultError('invalid_response', { status: asked.status, detail: 'bc-authorize answered without auth_req_id and expires_in' });
  const authReqId = b.auth_req_id;
  const deadline = d.now() + b.expires_in * 1000;
  let interval = typeof b.interval === 'number' && b.interval > 0 ? b.interval : DEFAULT_INTERVAL_S;
  let wait = interval;
  await o.onRequested?.({ expiresIn: b.expires_in, interval });

  for (;;) {
    if (d.now() >= deadline) throw new ApprovalExpiredError({ detail: 'the user did not answer in time' });
    await d.sleep(wait * 1000, o.signal);
    const answer = await post(d, '/oauth2/token', new URLSearchParams({ grant_type: CIBA_GRANT, auth_req_id: authReqId }));
    if (answer.status === 200) {
      return parseApproved(answer, d.now());
    }
    const error = ((answer.body ?? {}) as Record<string, unknown>).error;
    if (error === 'authorization_pending') wait = Math.min(wait * BACKOFF_FACTOR, interval * MAX_BACKOFF_INTERVALS);
    else if (error === 'slow_down') {
      interval += 5;
      wait = Math.max(wait, interval);
    } else if (error === 'access_denied') throw new ApprovalDeniedError(initOf(answer));
    else if (error === 'expired_token') throw new ApprovalExpiredError(initOf(answer));
    else throw exchangeError(answer);
  }
}

async function post(d: ApprovalDeps, path: string, form: URLSearchParams): Promise<VaultAnswer> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  await authenticate(d.credentials, form, headers);
  return callVault(d.fetch, `${d.url}${path}`, { method: 'POST', headers, body: form.toString() }, d.timeoutMs);
}

function initOf(answer: VaultAnswer) {
  const b = (answer.body ?? {}) as Record<string, unknown>;
  return {
    status: answer.status,
    vaultCode: typeof b.error === 'string' ? b.error : undefined,
    detail: typeof b.error_description === 'string' ? b.error_description.slice(0, 500) : undefined,
    requestId: answer.headers.get('x-request-id') ?? undefined,
  };
}

/** A timer that an AbortSignal cancels (the caller gave up waiting for the user). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', stop, { once: true });
  });
}
