import { Inject, Injectable, Logger } from '@nestjs/common';
import { AuditEventInput, AuditLog } from '../audit';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { KeyUnwrapError } from '../crypto';
import { DomainError, ErrorCode, TenantId } from '../kernel';
import { AgentStore, DecisionQuery, inputsForAudit, PolicyDecisionPoint, PolicyStore } from '../policy';
import { CONNECT_LINKS, ConnectLinkIssuer } from './connect-links';
import { ProviderCatalog } from '../oauth';
import { ConnectionStore, TENANT_LEVEL } from '../connections';
import { ConnectionRefresher, isDue, isUsable, RefreshWindow } from '../refresh';
import { DownscopedTokens, NarrowedToken, NarrowingRefused } from './downscoped-tokens';
import { excessOf, planScopes } from './scope-ceiling';

/** Who is asking: the verified exchanged token, reduced to what the release needs. */
export interface ReleaseCaller {
  tenant: TenantId;
  subject: string;
  agent: string;
  scopes: string[];
  claims: Record<string, unknown>;
  jti?: string;
}

export type ReleaseResult =
  | { integration: string; type: 'api_key'; api_key: string }
  | {
      integration: string;
      type: 'oauth2';
      access_token: string;
      token_type: 'Bearer';
      expires_at: string | null;
      scopes: string[];
      metadata: Record<string, unknown>;
    };

const ACTION = 'credential.release';
const NOT_FOUND = 'no connection for this user and integration';
const NEEDS_REAUTH = 'the connection must be re-authorized by the user';
/** The claims a decision sees for an agent acting for itself (none of a user's). */
const NO_CLAIMS: Record<string, unknown> = Object.freeze({});

const CONNECTIONS_SCOPE = 'connections:';

/** Whether `scopes` holds `connections:<integration>`, without building that string (this runs per release). */
function hasConnectionScope(scopes: readonly string[], integration: string): boolean {
  const length = CONNECTIONS_SCOPE.length + integration.length;
  for (let i = 0; i < scopes.length; i++) {
    const s = scopes[i];
    if (s.length === length && s.startsWith(CONNECTIONS_SCOPE) && s.endsWith(integration)) return true;
  }
  return false;
}

/**
 * The hot path of DESIGN.md: scope → agent → policy (again, it may have changed) →
 * connection → refresh if due (single flight) → decrypt → durable audit → release.
 * Every refusal is audited with its code. Once policy has allowed the agent, a missing or
 * expired-for-good connection comes with a `connect_url` the user can follow.
 */
@Injectable()
export class CredentialReleaseService {
  private readonly log = new Logger('release');

  constructor(
    private readonly connections: ConnectionStore,
    private readonly policies: PolicyStore,
    private readonly agents: AgentStore,
    private readonly decisions: PolicyDecisionPoint,
    private readonly audit: AuditLog,
    private readonly refresher: ConnectionRefresher,
    private readonly downscoped: DownscopedTokens,
    private readonly catalog: ProviderCatalog,
    @Inject(CONNECT_LINKS) private readonly links: ConnectLinkIssuer,
    @Inject(VAULT_CONFIG) private readonly config: Pick<VaultConfig, 'publicUrl'>,
  ) {}

  async release(caller: ReleaseCaller, integrationName: string, requestedScopes?: string[]): Promise<ReleaseResult> {
    // Every step below reads what it needs without a closure, a spread or an await on a value
    // already there (the tenant's policy snapshot and key are cached after warm-up): this runs per release.
    if (!hasConnectionScope(caller.scopes, integrationName)) {
      return this.deny(caller, integrationName, 'scope_missing', `the token's scope does not include connections:${integrationName}`);
    }
    const registered = this.agents.existsCached(caller.tenant, caller.agent) ?? (await this.agents.exists(caller.tenant, caller.agent));
    if (!registered) return this.deny(caller, integrationName, 'not_an_agent_token', 'the acting agent is not registered');
    // From the tenant's policy snapshot (no query): registered, and per user or per tenant.
    const level =
      this.policies.cachedLevel(caller.tenant, integrationName) ?? (await this.policies.integrationLevel(caller.tenant, integrationName));
    if (!level) return this.deny(caller, integrationName, 'connection_not_found', NOT_FOUND);
    // An agent's token for itself (jwt-bearer grant) has no user: tenant-level connections only, policy on the agent alone.
    const agentOnly = caller.claims.agent_only === true;
    if (agentOnly && level !== 'tenant') {
      return this.deny(caller, integrationName, 'policy_denied', 'an agent token without a user releases tenant-level connections only', {
        agent_only: true,
      });
    }

    const query: DecisionQuery = {
      agent: caller.agent,
      integration: integrationName,
      subject: agentOnly ? undefined : caller.subject,
      claims: agentOnly ? NO_CLAIMS : caller.claims,
    };
    const decision = this.decisions.decideCached(caller.tenant, query) ?? (await this.decisions.decide(caller.tenant, query));
    if (!decision.allowed) {
      return this.deny(caller, integrationName, 'policy_denied', 'policy does not allow this agent this credential for this user', {
        policy: decision.policy,
        ...inputsForAudit(decision.inputs.matched),
        ...(decision.inputs.user_switch ? { user_switch: decision.inputs.user_switch } : {}),
      });
    }
    // A policy may have come to require DPoP after this token was issued as a Bearer token: decided again here.
    if (decision.dpopRequiredBy && caller.claims.cnf === undefined) {
      return this.deny(
        caller,
        integrationName,
        'invalid_dpop_proof',
        `policy "${decision.dpopRequiredBy[0]}" requires a DPoP-bound token`,
        {
          dpop_required_by: decision.dpopRequiredBy,
        },
      );
    }
    // Issue 17 §3: an approval is the `approval` claim of a token this vault issued from one (its lifetime ends with the approval).
    const approval =
      caller.claims.iss === this.config.publicUrl && typeof caller.claims.approval === 'string' ? caller.claims.approval : null;
    if (decision.approval && !approval) {
      return this.deny(
        caller,
        integrationName,
        'approval_required',
        `policy requires the user's approval for each use: ask at POST /oauth2/bc-authorize with scope connections:${integrationName}`,
        { approval_policies: decision.approval.policies },
        { bc_authorize: `${this.config.publicUrl}/oauth2/bc-authorize`, scope: `connections:${integrationName}` },
      );
    }

    const subject = level === 'tenant' ? TENANT_LEVEL : caller.subject;
    let connection = await this.connections.findForRelease(caller.tenant, integrationName, subject);
    if (!connection) return this.denyWithLink(caller, integrationName, subject, 'connection_not_found', NOT_FOUND);
    if (connection.status !== 'active') return this.denyWithLink(caller, integrationName, subject, 'needs_reauth', NEEDS_REAUTH);
    const window = this.catalog.refreshWindow(connection.provider, connection.providerOptions);
    if (connection.kind === 'oauth2' && isDue(connection.expiresAt, connection.tokenIssuedAt, window)) {
      let fresh: Awaited<ReturnType<ConnectionRefresher['refresh']>>;
      try {
        fresh = await this.refresher.refresh(caller.tenant, connection.id, window);
      } catch (err) {
        if (err instanceof DomainError && err.code === 'needs_reauth')
          return this.denyWithLink(caller, integrationName, subject, 'needs_reauth', err.detail);
        if (err instanceof DomainError && err.code === 'unavailable') await this.audit.record(this.unavailable(caller, integrationName));
        throw err;
      }
      // The row as the refresh's compare-and-set left it (or as it found it): not read a second time.
      connection = fresh && { ...connection, ...fresh };
      if (!connection) return this.denyWithLink(caller, integrationName, subject, 'connection_not_found', NOT_FOUND);
      if (connection.status !== 'active') return this.denyWithLink(caller, integrationName, subject, 'needs_reauth', NEEDS_REAUTH);
      // After any refresh or wait, never a dead token (SECURITY 46): the caller retries instead.
      if (!isUsable(connection.expiresAt)) {
        await this.audit.record({ ...this.unavailable(caller, integrationName), details: { expired: true } });
        throw new DomainError('unavailable', 'No valid access token is available yet; nothing was released. Try again later.', {
          retryAfter: 1,
        });
      }
    }

    // A ceiling binds the credential itself (issue 14): the token released carries only allowed scopes.
    const plan = planScopes(connection.scopes, decision.scopeCeiling, requestedScopes);
    if (plan.kind === 'refused') {
      const why =
        plan.code === 'scope_missing'
          ? 'requested scopes were never granted to the connection'
          : "the connection's grant exceeds the policy's scope ceiling";
      return this.deny(
        caller,
        integrationName,
        plan.code,
        `${why}: ${plan.excess.join(' ')}`,
        { granted: connection.scopes, ceiling: decision.scopeCeiling, requested: requestedScopes ?? null, excess: plan.excess },
        { excess_scopes: plan.excess },
      );
    }

    let secret: Buffer;
    let scopes = plan.scopes;
    let expiresAt = connection.expiresAt;
    let derived: boolean | undefined;
    try {
      if (plan.kind === 'narrowed' && connection.kind === 'oauth2') {
        const narrowed = await this.narrow(caller, integrationName, connection.id, plan.scopes, window);
        if ('refused' in narrowed) {
          const excess = excessOf(connection.scopes, plan.scopes);
          const detail = `the connection's grant exceeds the policy's scope ceiling and the provider cannot issue a narrower token: ${excess.join(' ')}`;
          return this.deny(
            caller,
            integrationName,
            'scope_exceeds_policy',
            detail,
            {
              granted: connection.scopes,
              ceiling: decision.scopeCeiling,
              requested: requestedScopes ?? null,
              excess,
              narrowing: narrowed.refused.reason,
              answered: narrowed.refused.answered,
            },
            { excess_scopes: excess },
          );
        }
        ({ token: secret, scopes, expiresAt, derived } = narrowed);
      } else {
        // Alarmed and audited (decrypt_failed) by the store: someone moved, altered or relabelled ciphertext.
        const opened = this.connections.openNow(connection, connection.kind === 'api_key' ? 'api_key' : 'access_token', {
          action: ACTION,
          agent: caller.agent,
          subject: caller.subject,
          integration: integrationName,
          details: { connection: connection.id },
        });
        secret = opened instanceof Promise ? await opened : opened;
      }
    } catch (err) {
      if (err instanceof DomainError && err.code === 'needs_reauth')
        return this.denyWithLink(caller, integrationName, subject, 'needs_reauth', err.detail);
      if (err instanceof DomainError && err.code === 'unavailable') await this.audit.record(this.unavailable(caller, integrationName));
      if (!(err instanceof KeyUnwrapError)) throw err;
      throw new DomainError('internal_error', 'the credential could not be decrypted');
    }
    try {
      // Durable before the response: if the audit log cannot take it, nothing is released.
      const narrowed = plan.kind === 'narrowed';
      const inputs = inputsForAudit(decision.inputs.matched);
      await this.audit.record({
        tenant: caller.tenant,
        action: ACTION,
        outcome: 'allowed',
        agent: caller.agent,
        subject: caller.subject,
        integration: integrationName,
        // Absent (undefined) details are left out of the record, as they were when spread in only when present.
        details: {
          connection: connection.id,
          version: connection.version,
          policies: decision.policies,
          matched: inputs.matched,
          matched_omitted: inputs.matched_omitted,
          scopes,
          jti: caller.jti ?? null,
          approval: approval || undefined,
          granted: narrowed ? connection.scopes : undefined,
          ceiling: narrowed ? decision.scopeCeiling : undefined,
          narrowed: narrowed || undefined,
          derived: narrowed ? derived : undefined,
        },
      });
      const value = secret.toString('utf8');
      return connection.kind === 'api_key'
        ? { integration: integrationName, type: 'api_key', api_key: value }
        : {
            integration: integrationName,
            type: 'oauth2',
            access_token: value,
            token_type: 'Bearer',
            expires_at: expiresAt ? expiresAt.toISOString() : null,
            scopes,
            metadata: connection.metadata,
          };
    } finally {
      secret.fill(0);
    }
  }

  /** Audits the refusal (`denied`, its code), then throws it as a `DomainError`; `problem` goes into the answer. */
  private async deny(
    caller: ReleaseCaller,
    integration: string,
    code: ErrorCode,
    detail: string,
    extra?: Record<string, unknown>,
    problem?: Record<string, unknown>,
  ): Promise<never> {
    await this.audit.record({
      tenant: caller.tenant,
      action: ACTION,
      outcome: 'denied',
      reason: code,
      agent: caller.agent,
      subject: caller.subject,
      integration,
      details: { jti: caller.jti ?? null, ...extra, ...(problem?.connect_url ? { connect_offered: true } : {}) },
    });
    throw new DomainError(code, detail, problem ? { extra: problem } : {});
  }

  /** `deny` for a connection the user can (re)connect: with a connect link when the connection is theirs. */
  private async denyWithLink(
    caller: ReleaseCaller,
    integration: string,
    subject: string,
    code: 'connection_not_found' | 'needs_reauth',
    detail: string,
  ): Promise<never> {
    const link = subject === TENANT_LEVEL ? undefined : await this.connectLink(caller, integration);
    return this.deny(caller, integration, code, detail, undefined, link);
  }

  private unavailable(caller: ReleaseCaller, integration: string): AuditEventInput {
    return {
      tenant: caller.tenant,
      action: ACTION,
      outcome: 'error',
      reason: 'provider_unavailable',
      agent: caller.agent,
      subject: caller.subject,
      integration,
    };
  }

  /** `{ connect_url }` for this user when a connect link issuer is bound; never fails the denial it decorates. */
  private async connectLink(caller: ReleaseCaller, integration: string): Promise<Record<string, unknown> | undefined> {
    try {
      const link = await this.links.linkFor({ tenant: caller.tenant, subject: caller.subject, integration, agent: caller.agent });
      return link ? { connect_url: link.url, connect_url_expires_at: link.expiresAt.toISOString() } : undefined;
    } catch (err) {
      this.log.warn(`connect link not issued (${err instanceof Error ? err.name : 'error'})`);
      return undefined;
    }
  }

  /** A token for `scopes` only, from the provider; a refusal comes back as a value for the caller to audit. */
  private async narrow(
    caller: ReleaseCaller,
    integration: string,
    id: string,
    scopes: string[],
    window: Pick<RefreshWindow, 'releaseAheadSeconds'>,
  ): Promise<NarrowedToken | { refused: NarrowingRefused }> {
    try {
      return await this.downscoped.obtain(caller.tenant, integration, id, scopes, window);
    } catch (err) {
      if (err instanceof NarrowingRefused) return { refused: err };
      throw err;
    }
  }
}
