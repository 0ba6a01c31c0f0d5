import { Inject, Injectable } from '@nestjs/common';
import { AuditLog, UNATTRIBUTED_TENANT } from '../audit';
import { authorizeAdmin, bearerTokenOf, TokenVerifier, VerifiedToken } from '../auth';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { AdminActor, asTenantId, DomainError, TenantId } from '../kernel';
import { AgentStore } from '../policy';
import { AuthenticatedClient, ClientAuthenticator } from './client-authenticator';
import { peekJwt } from './client-assertion';
import { formOf, presentedClient } from './exchange-request';
import { OAuthError } from './oauth-error';
import { TokenBucketLimiter } from './rate-limiter';
import { claimedClientId, TOKEN_ENDPOINT_RATE } from './token-exchange.service';
import { TokenRevocationStore } from './token-revocation.store';
import { CutoffKind, TokenRevocations } from './token-revocations';

export const TOKEN_REVOKE_ACTION = 'token.revoke';
export const TOKEN_INTROSPECT_ACTION = 'token.introspect';
const MAX_TOKEN = 16 * 1024;

/** What the HTTP edge hands over (as for the token endpoint). */
export interface RevocationCall {
  ip: string;
  contentType?: string;
  authorization?: string;
  body: unknown;
}

/** RFC 7662 §2.2. */
export type Introspection = { active: false } | ({ active: true } & Record<string, unknown>);

/**
 * Revocation (RFC 7009) and introspection (RFC 7662) of the vault's own tokens, and the admin's
 * "revoke every token of this agent / user". Every revocation is audited before it is answered.
 * An agent may revoke and introspect only tokens issued to it (`client_id`); another agent's
 * token is answered 200 (revoke) or `active: false` (introspect), as the RFCs say, and audited.
 */
@Injectable()
export class TokenRevocationService {
  /** The token endpoint's per-IP budget (SECURITY.md 29), for these two client-authenticated endpoints together. */
  private readonly perIp = new TokenBucketLimiter(TOKEN_ENDPOINT_RATE.perIp);

  constructor(
    private readonly store: TokenRevocationStore,
    private readonly verifier: TokenVerifier,
    private readonly clients: ClientAuthenticator,
    private readonly agents: AgentStore,
    private readonly revocations: TokenRevocations,
    private readonly audit: AuditLog,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
  ) {}

  /** `POST /oauth2/revoke`. Resolves (200, empty) unless the request or the client is refused. */
  async revoke(call: RevocationCall): Promise<void> {
    this.limit(call.ip);
    const form = formOf(call.contentType, call.body);
    const raw = tokenParam(form);
    const { token, tenant } = await this.subject(raw);
    const client = await this.authenticate(TOKEN_REVOKE_ACTION, tenant, form, call.authorization);
    const base = { tenant, action: TOKEN_REVOKE_ACTION, agent: client.clientId } as const;
    if (!token) {
      // RFC 7009 §2.2: an invalid token is not an error; nothing to revoke.
      await this.audit.record({ ...base, outcome: 'denied', reason: 'invalid_token', details: { by: 'client', revoked: false } });
      return;
    }
    if (token.issuer !== this.config.publicUrl || token.jti === undefined)
      throw new OAuthError('unsupported_token_type', 'only tokens this vault issued can be revoked here');
    const details = { by: 'client', jti: token.jti, issued_to: ownerOf(token) ?? null };
    if (ownerOf(token) !== client.clientId || token.tenant !== tenant) {
      await this.audit.record({
        ...base,
        outcome: 'denied',
        reason: 'not_token_owner',
        subject: token.subject,
        details: { ...details, revoked: false },
      });
      return;
    }
    // Takes access away: written first, then audited (a 503 if the audit fails; the token stays revoked).
    this.revocations.applied(await this.store.revokeToken(token.tenant, token.jti, token.expiresAt));
    await this.audit.record({ ...base, outcome: 'allowed', subject: token.subject, details: { ...details, revoked: true } });
  }

  /** `POST /oauth2/introspect`, by the agent holding the token or by an admin of its tenant (`Authorization: Bearer`). */
  async introspect(call: RevocationCall): Promise<Introspection> {
    this.limit(call.ip);
    const form = formOf(call.contentType, call.body);
    const raw = tokenParam(form);
    const { token, tenant } = await this.subject(raw);
    const admin =
      call.authorization !== undefined && /^bearer /i.test(call.authorization) ? await this.admin(call.authorization, tenant) : undefined;
    const caller = admin
      ? { tenant: admin.tenant, agent: undefined, by: admin.subject }
      : { tenant, agent: (await this.authenticate(TOKEN_INTROSPECT_ACTION, tenant, form, call.authorization)).clientId, by: 'client' };
    let active = token !== undefined && token.tenant === caller.tenant && (caller.agent === undefined || ownerOf(token) === caller.agent);
    if (active) {
      try {
        this.verifier.checkStatus(token!);
      } catch {
        active = false;
      }
    }
    await this.audit.record({
      tenant: caller.tenant,
      action: TOKEN_INTROSPECT_ACTION,
      outcome: 'allowed',
      ...(caller.agent ? { agent: caller.agent } : {}),
      details: { by: caller.by, active, jti: active ? (token!.jti ?? null) : null },
    });
    return active ? describe(token!) : { active: false };
  }

  /** `POST /v1/admin/{agents|users}/{name}/revoke-tokens`: every token of it issued up to now (to the second) is revoked. */
  async revokeAll(actor: AdminActor, kind: CutoffKind, name: string): Promise<{ revoked_before: string }> {
    if (kind === 'agent' && !(await this.agents.find(actor.tenant, name))) throw new DomainError('not_found', `no agent "${name}"`);
    // Takes access away: not held back by an audit outage (audited after; a 503 if that fails), like agent deletion.
    const row = await this.store.cutOff(actor.tenant, kind, name);
    this.revocations.applied(row);
    const revokedBefore = new Date((row.at + 1) * 1000).toISOString();
    await this.audit.record({
      tenant: actor.tenant,
      action: TOKEN_REVOKE_ACTION,
      outcome: 'allowed',
      ...(kind === 'agent' ? { agent: name } : { subject: name }),
      details: { by: actor.subject, revoked_all_of: kind === 'agent' ? 'agent' : 'user', revoked_before: revokedBefore },
    });
    return { revoked_before: revokedBefore };
  }

  private limit(ip: string): void {
    const d = this.perIp.take(ip);
    if (!d.allowed) throw new OAuthError('rate_limited', 'too many requests; retry later', { retryAfter: d.retryAfterSeconds });
  }

  private async admin(authorization: string, tenant: TenantId): Promise<VerifiedToken> {
    try {
      const token = await this.verifier.verify(bearerTokenOf(authorization)!);
      authorizeAdmin(token);
      return token;
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      const refusal = new OAuthError('invalid_client', `introspection by an admin: ${err.detail}`);
      await this.recordInvalidClient(TOKEN_INTROSPECT_ACTION, tenant, refusal, { by: 'admin' });
      throw refusal;
    }
  }

  /** Client authentication; a refusal is audited as at the token endpoint (reason `invalid_client`, the claimed id only). */
  private async authenticate(
    action: string,
    tenant: TenantId,
    form: Record<string, unknown>,
    authorization: string | undefined,
  ): Promise<AuthenticatedClient> {
    try {
      return await this.clients.authenticate(tenant, presentedClient(form, authorization));
    } catch (err) {
      if (!(err instanceof OAuthError && err.error === 'invalid_client')) throw err;
      await this.recordInvalidClient(action, tenant, err, {
        by: 'client',
        claimed_client_id: claimedClientId(form, authorization) ?? null,
      });
      throw err;
    }
  }

  private async recordInvalidClient(
    action: string,
    tenant: TenantId,
    refusal: OAuthError,
    details: Record<string, unknown>,
  ): Promise<void> {
    // Unauthenticated, so no `agent`: the caller's claim goes in the details, never a secret or the token.
    await this.audit.record({
      tenant,
      action,
      outcome: 'denied',
      reason: 'invalid_client',
      details: { ...details, detail: refusal.description },
    });
  }

  /**
   * The presented token, verified (revocation aside), and the tenant the client is looked up in:
   * the token's, or for a token that does not verify, the tenant it claims (only to find the
   * client, which still has to authenticate).
   */
  private async subject(raw: string): Promise<{ token?: VerifiedToken; tenant: TenantId }> {
    try {
      const token = await this.verifier.verifyClaims(raw);
      return { token, tenant: token.tenant };
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      const claimed = peekJwt(raw)?.payload.tid;
      try {
        return { tenant: asTenantId(typeof claimed === 'string' ? claimed : '') };
      } catch {
        return { tenant: UNATTRIBUTED_TENANT as TenantId };
      }
    }
  }
}

/** The agent a vault token was issued to. */
function ownerOf(token: VerifiedToken): string | undefined {
  return typeof token.claims.client_id === 'string' ? token.claims.client_id : token.agent;
}

function tokenParam(form: Record<string, unknown>): string {
  const t = form.token;
  if (Array.isArray(t)) throw new OAuthError('invalid_request', 'parameter token must not be repeated');
  if (typeof t !== 'string' || t.length === 0) throw new OAuthError('invalid_request', 'token is required');
  if (t.length > MAX_TOKEN) throw new OAuthError('invalid_request', 'token is too long');
  return t;
}

/** RFC 7662 §2.2 members, from the verified claims. */
function describe(token: VerifiedToken): Introspection {
  const c = token.claims;
  const pick = (k: string) => (c[k] !== undefined ? { [k]: c[k] } : {});
  return {
    active: true,
    ...pick('scope'),
    ...pick('client_id'),
    token_type: c.cnf !== undefined ? 'DPoP' : 'Bearer',
    ...pick('exp'),
    ...pick('iat'),
    ...pick('nbf'),
    sub: token.subject,
    ...pick('aud'),
    iss: token.issuer,
    ...pick('jti'),
    ...pick('act'),
    ...pick('cnf'),
    tid: token.tenant,
  };
}
