import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import jwt from 'jsonwebtoken';
import { AuditLog } from '../../audit';
import { DpopProofVerifier, TrustedIssuerRegistry } from '../../auth';
import { VAULT_CONFIG, VaultConfig } from '../../config';
import { ScopeCeilingCheck } from '../../release';
import { asTenantId, TenantId } from '../../kernel';
import { inputsForAudit, PolicyDecisionPoint, PolicyStore } from '../../policy';
import { peekJwt } from '../client-assertion';
import { dpopBinding } from '../dpop-binding';
import { AuthenticatedClient, ClientAuthenticator } from '../client-authenticator';
import { integrationOf, JWT_BEARER_GRANT, presentedClient, TOKEN_TYPES } from '../exchange-request';
import { decideScopes, GrantRefused, requireDpopWhenPolicyDoes, ScopeGrants } from '../issuance-policy';
import { OAuthError } from '../oauth-error';
import { TokenSigningKeys } from '../signing-keys';
import { JwtBearerRequest, TOKEN_ISSUE_ACTION } from './jwt-bearer-request';

/** What the token endpoint's refusal audit reads of this attempt (filled as it goes). */
export interface GrantAttempt {
  tenant?: TenantId;
  client?: AuthenticatedClient;
}

export interface AgentTokenResponse {
  access_token: string;
  issued_token_type: typeof TOKEN_TYPES.accessToken;
  /** `DPoP` when bound to the proof's key (RFC 9449 §5). */
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  scope: string;
}

/**
 * `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` without `requested_token_use`
 * (RFC 7523 §2.1): the assertion is the agent's own token from a trusted issuer (its federated
 * credential, e.g. an Entra agent identity token) and authenticates it; the vault token is for
 * the agent itself: `sub` = the agent, `act.sub` = the agent, `agent_only: true`, no user.
 * Such a token is for tenant-level connections only, decided by policy on the agent alone
 * (policies that name users or roles do not apply); scopes of per-user integrations are
 * refused as `user_level_integration`. Audited as `token.issue` with the grant named.
 */
@Injectable()
export class AgentTokenGrant {
  constructor(
    private readonly clients: ClientAuthenticator,
    private readonly registry: TrustedIssuerRegistry,
    private readonly policies: PolicyStore,
    private readonly decisions: PolicyDecisionPoint,
    private readonly ceilings: ScopeCeilingCheck,
    private readonly keys: TokenSigningKeys,
    private readonly audit: AuditLog,
    private readonly dpop: DpopProofVerifier,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
  ) {}

  async issue(
    req: Extract<JwtBearerRequest, { kind: 'agent' }>,
    form: Record<string, unknown>,
    authorization: string | undefined,
    a: GrantAttempt,
    proof?: string | string[],
  ): Promise<AgentTokenResponse> {
    const { tenant, expiresAt } = this.tenantOf(req.assertion);
    a.tenant = tenant;
    const clientId = typeof form.client_id === 'string' && form.client_id ? form.client_id : undefined;
    a.client = await this.byAssertion(tenant, req.assertion, clientId);
    // Client authentication besides the assertion is optional (RFC 7523 §3.1); given, it must be the same agent.
    if (authorization !== undefined || ['client_secret', 'client_assertion', 'client_assertion_type'].some((p) => p in form)) {
      const other = await this.clients.authenticate(tenant, presentedClient(form, authorization));
      if (other.clientId !== a.client.clientId) throw new OAuthError('invalid_client', 'client authentication names another agent');
    }
    const agent = a.client.clientId;
    const jkt = await dpopBinding(this.dpop, proof, a.client.dpopBound === true);
    const grants = await this.decide(tenant, agent, req.requestedScopes);
    if (!grants.granted.length) throw new GrantRefused(grants, 'no requested scope is allowed for this agent acting for itself');
    requireDpopWhenPolicyDoes(grants, jkt);

    const now = Math.floor(Date.now() / 1000);
    // Never outlive the assertion that proved who the agent is.
    const caps = [this.config.tokenMaxTtlSeconds, grants.maxTtlSeconds, req.requestedTtlSeconds, expiresAt - now];
    const expiresIn = Math.max(1, Math.min(...caps.filter((v): v is number => typeof v === 'number')));
    const key = await this.keys.signingKey();
    const jti = randomUUID();
    const claims = {
      iss: this.config.publicUrl,
      aud: this.config.audience,
      sub: agent,
      tid: tenant,
      act: { sub: agent },
      agent_only: true,
      scope: grants.granted.join(' '),
      client_id: agent,
      jti,
      iat: now,
      exp: now + expiresIn,
      ...(jkt ? { cnf: { jkt } } : {}),
    };
    const token = jwt.sign(claims, key.privateKey, { algorithm: key.alg, keyid: key.kid, header: { alg: key.alg, typ: 'at+jwt' } });
    // Durable before the response: if the audit log cannot take it, no token leaves.
    await this.audit.record({
      tenant,
      action: TOKEN_ISSUE_ACTION,
      outcome: 'allowed',
      agent,
      details: {
        grant: JWT_BEARER_GRANT,
        client_auth: a.client.method,
        ...(a.client.issuer ? { client_issuer: a.client.issuer } : {}),
        agent_only: true,
        requested: req.requestedScopes,
        granted: grants.granted,
        refused: grants.refused,
        policies: grants.policies,
        ...inputsForAudit(grants.matched),
        jti,
        expires_in: expiresIn,
        ...(jkt ? { dpop_jkt: jkt } : {}),
      },
    });
    return {
      access_token: token,
      issued_token_type: TOKEN_TYPES.accessToken,
      token_type: jkt ? 'DPoP' : 'Bearer',
      expires_in: expiresIn,
      scope: grants.granted.join(' '),
    };
  }

  /** The tenant the assertion's issuer names (verified with the signature in `byAssertion`), and its `exp`. */
  private tenantOf(assertion: string): { tenant: TenantId; expiresAt: number } {
    const payload = peekJwt(assertion)?.payload;
    if (!payload) throw new OAuthError('invalid_grant', 'assertion is malformed');
    const issuer = typeof payload.iss === 'string' && payload.iss !== this.config.publicUrl ? this.registry.get(payload.iss) : undefined;
    if (!issuer) throw new OAuthError('invalid_grant', 'assertion issuer is not trusted');
    const claimed = payload[issuer.tenantClaim] ?? issuer.defaultTenant;
    try {
      if (typeof claimed !== 'string') throw new Error('no tenant');
      return { tenant: asTenantId(claimed), expiresAt: typeof payload.exp === 'number' ? payload.exp : 0 };
    } catch {
      throw new OAuthError('invalid_grant', 'assertion names no valid tenant');
    }
  }

  /** The assertion authenticates the agent as a client assertion would; its faults are the grant's (`invalid_grant`). */
  private async byAssertion(tenant: TenantId, assertion: string, clientId: string | undefined): Promise<AuthenticatedClient> {
    try {
      return await this.clients.authenticate(tenant, { kind: 'assertion', assertion, ...(clientId ? { clientId } : {}) });
    } catch (err) {
      if (err instanceof OAuthError && err.error === 'invalid_client')
        throw new OAuthError('invalid_grant', err.description.replace(/^client assertion/, 'assertion'));
      throw err;
    }
  }

  /** Per scope: tenant-level integrations only, then policy on the agent alone (no subject, no claims). */
  private async decide(tenant: TenantId, agent: string, requested: string[]): Promise<ScopeGrants> {
    const userLevel: string[] = [];
    for (const scope of requested) {
      const integration = integrationOf(scope);
      if (integration !== undefined && (await this.policies.integrationLevel(tenant, integration)) === 'user') userLevel.push(scope);
    }
    const grants = await decideScopes(
      requested.filter((s) => !userLevel.includes(s)),
      (integration) => this.decisions.decide(tenant, { agent, integration, claims: {} }),
      undefined,
      (integration, ceiling) => this.ceilings.excess(tenant, integration, ceiling),
    );
    grants.refused.push(...userLevel.map((scope) => ({ scope, reason: 'user_level_integration' as const, policy: null })));
    return grants;
  }
}
