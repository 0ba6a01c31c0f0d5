import { createHash } from 'node:crypto';
import type { VaultAnswer } from './error-mapping';
import { VaultError } from './errors';
import type { ApiKeyRelease, ApprovedToken, OAuthRelease, Release, VaultToken } from './types';

const INSPECT = Symbol.for('nodejs.util.inspect.custom');
const REDACTED = '[REDACTED]';

/** The token endpoint's 200 answer as a VaultToken; `now` anchors `expires_in`. */
export function parseExchange(answer: VaultAnswer, now: number): VaultToken {
  const b = (answer.body ?? {}) as Record<string, unknown>;
  if (typeof b.access_token !== 'string' || !b.access_token || typeof b.expires_in !== 'number' || !(b.expires_in > 0)) {
    throw new VaultError('invalid_response', {
      status: answer.status,
      detail: 'the token endpoint answered without an access_token and expires_in',
    });
  }
  const token: VaultToken = {
    accessToken: b.access_token,
    tokenType: b.token_type === 'DPoP' ? 'DPoP' : 'Bearer',
    expiresAt: new Date(now + b.expires_in * 1000),
    scopes: typeof b.scope === 'string' ? b.scope.split(' ').filter(Boolean) : [],
  };
  return sealed(token, 'VaultToken', ['accessToken']);
}

/** The CIBA poll's 200 answer: a VaultToken plus the approval's id from its `approval` claim. */
export function parseApproved(answer: VaultAnswer, now: number): ApprovedToken {
  const t = parseExchange(answer, now);
  const approval = payloadOf(t.accessToken)?.approval;
  return sealed<ApprovedToken>({ ...t, approvalId: typeof approval === 'string' ? approval : undefined }, 'ApprovedToken', ['accessToken']);
}

/** The release path's 200 answer, checked against CONTRACT.md "Release"; undefined if it is not one. */
export function parseRelease(answer: VaultAnswer): Release | undefined {
  const b = (answer.body ?? {}) as Record<string, unknown>;
  if (typeof b.integration !== 'string') return undefined;
  if (b.type === 'api_key' && typeof b.api_key === 'string') {
    return sealed<ApiKeyRelease>({ integration: b.integration, type: 'api_key', api_key: b.api_key }, 'ApiKeyRelease', ['api_key']);
  }
  if (b.type === 'oauth2' && typeof b.access_token === 'string') {
    const scopes = Array.isArray(b.scopes) ? b.scopes.filter((s): s is string => typeof s === 'string') : [];
    const metadata =
      b.metadata && typeof b.metadata === 'object' && !Array.isArray(b.metadata) ? (b.metadata as Record<string, unknown>) : {};
    return sealed<OAuthRelease>(
      {
        integration: b.integration,
        type: 'oauth2',
        access_token: b.access_token,
        token_type: 'Bearer',
        expires_at: typeof b.expires_at === 'string' ? b.expires_at : null,
        scopes: Object.freeze(scopes) as string[],
        metadata: Object.freeze({ ...metadata }),
      },
      'OAuthRelease',
      ['access_token'],
    );
  }
  return undefined;
}

/**
 * Who a vault token speaks for: issuer, tenant, user and the actor chain. Read without verifying,
 * which is sound only for tokens this client got from the vault's token endpoint itself.
 */
export function principalOf(vaultToken: string): string {
  const p = payloadOf(vaultToken);
  if (!p) return `t:${createHash('sha256').update(vaultToken).digest('base64url')}`;
  const actors: unknown[] = [];
  for (
    let act = p.act as Record<string, unknown> | undefined;
    act && typeof act === 'object' && actors.length < 10;
    act = act.act as Record<string, unknown> | undefined
  )
    actors.push(act.sub);
  return `p:${JSON.stringify([p.iss, p.tid, p.sub, actors, p.client_id])}`;
}

/** Whether a vault token is bound to a DPoP key (`cnf.jkt`): it is then sent with the DPoP scheme and a proof. */
export function isDpopBound(token: string): boolean {
  const cnf = payloadOf(token)?.cnf as { jkt?: unknown } | undefined;
  return typeof cnf === 'object' && cnf !== null && typeof cnf.jkt === 'string';
}

/** `exp` of a JWT in epoch ms, if it has one. */
export function tokenExpiry(token: string): number | undefined {
  const exp = payloadOf(token)?.exp;
  return typeof exp === 'number' ? exp * 1000 : undefined;
}

function payloadOf(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as unknown;
    return payload && typeof payload === 'object' ? (payload as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Frozen (callers share cached values), and printed by `console.log`/`util.inspect` with its
 * secrets redacted. JSON keeps them: serialising a release is a deliberate act.
 */
function sealed<T extends object>(value: T, name: string, secrets: Array<keyof T>): T {
  Object.defineProperty(value, INSPECT, {
    enumerable: false,
    value(this: T) {
      const shown: Record<string, unknown> = { ...(this as Record<string, unknown>) };
      for (const key of secrets) shown[key as string] = REDACTED;
      return `${name} ${JSON.stringify(shown)}`;
    },
  });
  return Object.freeze(value);
}
