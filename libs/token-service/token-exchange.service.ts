import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import jwt from 'jsonwebtoken';
import { AuditLog, UNATTRIBUTED_TENANT } from '../audit';
import { DpopProofVerifier, TokenVerifier, VerifiedToken } from '../auth';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { ScopeCeilingCheck } from '../release';
import { isDatabaseUnavailable } from '../db';
import { DomainError, TenantId } from '../kernel';
import { inputsForAudit, PolicyDecisionPoint } from '../policy';
import { AuthenticatedClient, ClientAuthenticator } from './client-authenticator';
import { CibaGrant, CibaTokenResponse } from './grants/ciba.grant';
import { CIBA_GRANT } from './grants/ciba-request';
import { peekJwt } from './client-assertion';
import {
  ExchangeRequest,
  formOf,
  JWT_BEARER_GRANT,
  parseExchangeRequest,
  PresentedClient,
  presentedClient,
  TOKEN_EXCHANGE_GRANT,
  TOKEN_TYPES,
} from './exchange-request';
import { AgentTokenGrant } from './grants/agent-token.grant';
import { isJwtBearerGrant, parseJwtBearerRequest, TOKEN_ISSUE_ACTION } from './grants/jwt-bearer-request';
import { decideScopes, GrantRefused, requireDpopWhenPolicyDoes, ScopeGrants } from './issuance-policy';
import { OAuthError } from './oauth-error';
import { RateDecision, TokenBucketLimiter } from './rate-limiter';
import { TokenSigningKeys } from './signing-keys';
import { ResourceScopesRefused, ResourceTokenIssuer } from './grants/resource-token';
import { AuthorizationCodeGrants, CODE_GRANTS, CodeFlowTokenResponse } from './grants/authorization-code.grant';
import { dpopBinding } from './dpop-binding';

/** What the HTTP edge hands over: the raw request, untouched. */
export interface TokenEndpointCall {
  ip: string;
  contentType?: string;
  authorization?: string;
  /** The `DPoP` header (RFC 9449 §4), if any. */
  dpop?: string | string[];
  body: unknown;
}

/** RFC 8693 §2.2.1. */
export interface TokenExchangeResponse {
  access_token: string;
  issued_token_type: typeof TOKEN_TYPES.accessToken;
  /** `DPoP` when the token is bound to the proof's key (RFC 9449 §5). */
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  scope: string;
}

export const TOKEN_EXCHANGE_ACTION = 'token.exchange';
/** Per client id and IP, and (wider) per IP: SECURITY.md 29. */
export const TOKEN_ENDPOINT_RATE = { perClient: { burst: 20, perSecond: 5 }, perIp: { burst: 100, perSecond: 25 } };
const CLIENT_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

interface Attempt {
  /** The grant_type, once it is known to be one we serve. */
  grant?: string;
  /** A subject token accepted for one of the agent's `accepted_audiences` rather than VAULT_AUDIENCE: that audience. */
  subjectAudience?: string;
  tenant?: TenantId;
  subject?: VerifiedToken;
  client?: AuthenticatedClient;
  claimedClientId?: string;
  request?: ExchangeRequest;
  /** The thumbprint of the DPoP proof's key, when the token is to be bound. */
  jkt?: string;
}

/**
 * The token endpoint's one use case: an agent exchanges a user's token for a short-lived
 * vault token (RFC 8693) whose scopes policy decided at issuance.
 *
 * Order: rate limit → request syntax → subject token (it names the tenant, and agents are
 * registered per tenant) → client authentication in that tenant → actor token → policy per
 * scope → sign → durable audit → response. Every outcome but a rate-limit refusal is audited.
 */
@Injectable()
export class TokenExchangeService {
  private readonly perClient = new TokenBucketLimiter(TOKEN_ENDPOINT_RATE.perClient);
  private readonly perIp = new TokenBucketLimiter(TOKEN_ENDPOINT_RATE.perIp);
  private readonly vaultTargets: string[];

  constructor(
    private readonly verifier: TokenVerifier,
    private readonly clients: ClientAuthenticator,
    private readonly decisions: PolicyDecisionPoint,
    private readonly keys: TokenSigningKeys,
    private readonly audit: AuditLog,
    private readonly ceilings: ScopeCeilingCheck,
    private readonly agentGrant: AgentTokenGrant,
    private readonly dpop: DpopProofVerifier,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
    private readonly resourceTokens: ResourceTokenIssuer,
    private readonly codeGrants: AuthorizationCodeGrants,
    private readonly ciba: CibaGrant,
  ) {
    this.vaultTargets = [...new Set([config.audience, config.publicUrl])];
  }

  async exchange(call: TokenEndpointCall): Promise<TokenExchangeResponse | CodeFlowTokenResponse | CibaTokenResponse> {
    // Other grants, each in its own file under grants/ (it parses, authenticates, audits itself).
    const grant = (call.body as { grant_type?: unknown } | null)?.grant_type;
    if ((CODE_GRANTS as readonly unknown[]).includes(grant)) return this.codeGrants.token(call);
    if (grant === CIBA_GRANT) return this.ciba.token(call);
    const attempt: Attempt = {};
    try {
      return await this.run(call, attempt);
    } catch (err) {
      const refusal = toOAuthError(err);
      if (refusal.error !== 'rate_limited') await this.recordRefusal(attempt, refusal);
      throw refusal;
    }
  }

  private async run(call: TokenEndpointCall, a: Attempt): Promise<TokenExchangeResponse> {
    this.limit(this.perIp.take(call.ip));
    const form = formOf(call.contentType, call.body);
    a.claimedClientId = claimedClientId(form, call.authorization);
    this.limit(this.perClient.take(`${call.ip}\u0000${a.claimedClientId ?? ''}`));

    // The grant dispatch: each grant other than token exchange lives in grants/.
    const jwtBearer = isJwtBearerGrant(form) ? parseJwtBearerRequest(form, this.vaultTargets) : undefined;
    a.grant = jwtBearer ? JWT_BEARER_GRANT : TOKEN_EXCHANGE_GRANT;
    if (jwtBearer?.kind === 'agent') return this.agentGrant.issue(jwtBearer, form, call.authorization, a, call.dpop);
    a.request = jwtBearer ? jwtBearer.exchange : parseExchangeRequest(form, this.vaultTargets);
    const presented: PresentedClient = presentedClient(form, call.authorization);

    const subject = await this.verifySubject(a.request.subjectToken, a);
    a.subject = subject.token;
    a.tenant = a.subject.tenant;
    this.checkSubjectUse(a);
    a.client = await this.clients.authenticate(a.tenant, presented);
    const agent = a.client.clientId;
    if (!subject.forVault) a.subjectAudience = this.acceptedAudience(subject.audiences, a.client, a);
    a.jkt = await dpopBinding(this.dpop, call.dpop, a.client.dpopBound === true);

    await this.checkActor(a.subject, agent, a.request.actorToken);
    if (a.request.resource !== undefined) return this.exchangeForResource(a, agent, a.request.resource);

    const grants = await decideScopes(
      a.request.requestedScopes,
      (integration) => this.decisions.decide(a.tenant!, { agent, integration, subject: a.subject!.subject, claims: a.subject!.claims }),
      a.subject.actorChain.length ? a.subject.scopes : undefined,
      (integration, ceiling) => this.ceilings.excess(a.tenant!, integration, ceiling),
    );
    if (!grants.granted.length) throw new GrantRefused(grants);
    requireDpopWhenPolicyDoes(grants, a.jkt);

    const issued = await this.issue(a.subject, agent, grants, a.request.requestedTtlSeconds, a.jkt);
    // Durable before the response: if the audit log cannot take it, no token leaves.
    await this.audit.record({
      tenant: a.tenant,
      action: actionOf(a),
      outcome: 'allowed',
      agent,
      subject: a.subject.subject,
      details: {
        ...this.inputs(a),
        granted: grants.granted,
        refused: grants.refused,
        policies: grants.policies,
        ...inputsForAudit(grants.matched),
        jti: issued.jti,
        expires_in: issued.expiresIn,
        ...(a.jkt ? { dpop_jkt: a.jkt } : {}),
      },
    });
    return {
      access_token: issued.jwt,
      issued_token_type: TOKEN_TYPES.accessToken,
      token_type: a.jkt ? 'DPoP' : 'Bearer',
      expires_in: issued.expiresIn,
      scope: grants.granted.join(' '),
    };
  }

  /** A token for one of the tenant's resources (RFC 8707): its scope→role map decides, not the connection policies. */
  private async exchangeForResource(a: Attempt, agent: string, identifier: string): Promise<TokenExchangeResponse> {
    const subject = a.subject!;
    const resource = await this.resourceTokens.resolve(subject.tenant, identifier);
    const issued = await this.resourceTokens.issue({
      tenant: subject.tenant,
      resource,
      subject: subject.subject,
      claims: subject.claims,
      clientId: agent,
      agent,
      priorAct: subject.claims.act,
      delegated: subject.actorChain.length ? subject.scopes : undefined,
      requested: a.request!.requestedScopes,
      // Never outlive the user's own token.
      ttlCaps: [a.request!.requestedTtlSeconds, subject.expiresAt - Math.floor(Date.now() / 1000)],
      jkt: a.jkt,
    });
    await this.audit.record({
      tenant: subject.tenant,
      action: actionOf(a),
      outcome: 'allowed',
      agent,
      subject: subject.subject,
      details: {
        ...this.inputs(a),
        granted: issued.grants.granted,
        refused: issued.grants.refused,
        roles: issued.grants.roles,
        jti: issued.jti,
        expires_in: issued.expiresIn,
        ...(a.jkt ? { dpop_jkt: a.jkt } : {}),
      },
    });
    return {
      access_token: issued.jwt,
      issued_token_type: TOKEN_TYPES.accessToken,
      token_type: a.jkt ? 'DPoP' : 'Bearer',
      expires_in: issued.expiresIn,
      scope: issued.grants.granted.join(' '),
    };
  }

  /** The optional actor token and the subject token's `may_act` (RFC 8693 §4.4) must both name the agent. */
  private async checkActor(subject: VerifiedToken, agent: string, actorToken: string | undefined): Promise<void> {
    if (actorToken !== undefined) {
      const actor = await this.verifyInputToken(actorToken, 'actor_token');
      if (actor.subject !== agent || actor.tenant !== subject.tenant)
        throw new OAuthError('invalid_request', 'actor_token must identify the authenticated client');
    }
    const mayAct = subject.claims.may_act as { sub?: unknown } | undefined;
    if (mayAct !== undefined && (typeof mayAct !== 'object' || mayAct === null || mayAct.sub !== agent)) {
      throw new OAuthError('invalid_request', 'the subject token does not allow this client to act for its subject (may_act)');
    }
  }

  /** Signs the exchanged token (CONTRACT.md "Exchanged token", RFC 9068 profile); `jkt`: bound to that DPoP key (`cnf`). */
  private async issue(
    subject: VerifiedToken,
    agent: string,
    grants: ScopeGrants,
    requested?: number,
    jkt?: string,
  ): Promise<{ jwt: string; jti: string; expiresIn: number }> {
    const now = Math.floor(Date.now() / 1000);
    // Never outlive the user's own token.
    const caps = [this.config.tokenMaxTtlSeconds, grants.maxTtlSeconds, requested, subject.expiresAt - now].filter(
      (v): v is number => typeof v === 'number',
    );
    const expiresIn = Math.max(1, Math.min(...caps));
    const key = await this.keys.signingKey();
    const jti = randomUUID();
    const act = subject.claims.act !== undefined ? { sub: agent, act: subject.claims.act } : { sub: agent };
    const claims = {
      iss: this.config.publicUrl,
      aud: this.config.audience,
      sub: subject.subject,
      tid: subject.tenant,
      act,
      scope: grants.granted.join(' '),
      client_id: agent,
      jti,
      iat: now,
      exp: now + expiresIn,
      ...(jkt ? { cnf: { jkt } } : {}),
    };
    const token = jwt.sign(claims, key.privateKey, { algorithm: key.alg, keyid: key.kid, header: { alg: key.alg, typ: 'at+jwt' } });
    return { jwt: token, jti, expiresIn };
  }

  /**
   * The subject token (for on-behalf-of: the assertion), fully verified but for its audience when
   * that is not the vault's: the caller checks it against the authenticated agent's accepted audiences.
   */
  private async verifySubject(raw: string, a: Attempt): Promise<{ token: VerifiedToken; forVault: boolean; audiences: string[] }> {
    try {
      return await this.verifier.verifyAudienceLater(raw);
    } catch (err) {
      if (!(err instanceof DomainError && err.code === 'invalid_token')) throw err;
      // RFC 8693 §2.2.2: an invalid subject token is invalid_request; RFC 7523 §3.1: an invalid assertion is invalid_grant.
      const obo = a.grant === JWT_BEARER_GRANT;
      throw new OAuthError(obo ? 'invalid_grant' : 'invalid_request', `${obo ? 'assertion' : 'subject_token'} is invalid: ${err.detail}`);
    }
  }

  /**
   * An `agent_only` vault token has no user to act for; on-behalf-of takes a user's own token only, so
   * one with `act` (an agent's token) is `invalid_grant`. Checked once the verified subject names the
   * tenant, so that the refusal is audited there.
   */
  private checkSubjectUse(a: Attempt): void {
    const obo = a.grant === JWT_BEARER_GRANT;
    const name = obo ? 'assertion' : 'subject_token';
    if (a.subject!.claims.agent_only === true)
      throw new OAuthError(obo ? 'invalid_grant' : 'invalid_request', `${name} is an agent's own token: it has no user to act for`);
    if (obo && a.subject!.actorChain.length)
      throw new OAuthError('invalid_grant', 'on_behalf_of needs a user token: the assertion already has an actor (act)');
  }

  /** A subject token not for the vault: accepted when its `aud` holds one of the AUTHENTICATED agent's accepted audiences. */
  private acceptedAudience(audiences: string[], client: AuthenticatedClient, a: Attempt): string {
    const match = audiences.find((aud) => client.acceptedAudiences.includes(aud));
    if (match === undefined) {
      const name = a.grant === JWT_BEARER_GRANT ? 'assertion' : 'subject_token';
      throw new OAuthError(
        a.grant === JWT_BEARER_GRANT ? 'invalid_grant' : 'invalid_request',
        `${name} is invalid: token audience is not accepted`,
      );
    }
    return match;
  }

  private async verifyInputToken(raw: string, name: 'subject_token' | 'actor_token'): Promise<VerifiedToken> {
    try {
      return await this.verifier.verify(raw);
    } catch (err) {
      // RFC 8693 §2.2.2: an invalid subject or actor token is invalid_request.
      if (err instanceof DomainError && err.code === 'invalid_token')
        throw new OAuthError('invalid_request', `${name} is invalid: ${err.detail}`);
      throw err;
    }
  }

  private limit(d: RateDecision): void {
    if (!d.allowed) throw new OAuthError('rate_limited', 'too many token requests; retry later', { retryAfter: d.retryAfterSeconds });
  }

  /** The request's inputs for the audit record: identifiers only, never a token or secret. */
  private inputs(a: Attempt): Record<string, unknown> {
    return {
      ...(a.grant && a.grant !== TOKEN_EXCHANGE_GRANT ? { grant: a.grant } : {}),
      // Not `requested_token_use`: audit keys may not name tokens.
      ...(a.grant === JWT_BEARER_GRANT && a.request ? { on_behalf_of: true } : {}),
      client_auth: a.client?.method ?? null,
      ...(a.client?.issuer ? { client_issuer: a.client.issuer } : {}),
      subject_issuer: a.subject?.issuer ?? null,
      ...(a.subjectAudience ? { subject_audience: a.subjectAudience } : {}),
      subject_jti: a.subject?.jti ?? null,
      actor_chain: a.subject?.actorChain ?? [],
      requested: a.request?.requestedScopes ?? [],
      ...(a.request?.resource ? { resource: a.request.resource } : {}),
    };
  }

  private async recordRefusal(a: Attempt, refusal: OAuthError): Promise<void> {
    const grants = refusal instanceof GrantRefused ? refusal.grants : undefined;
    await this.audit.record({
      tenant: a.tenant ?? UNATTRIBUTED_TENANT,
      action: actionOf(a),
      outcome: refusal.status >= 500 ? 'error' : 'denied',
      reason: refusal.error,
      ...(a.client ? { agent: a.client.clientId } : {}),
      ...(a.subject ? { subject: a.subject.subject } : {}),
      details: {
        ...this.inputs(a),
        // Unauthenticated, so not the `agent`: only what the caller claimed, if it is a well-formed id.
        ...(!a.client ? { claimed_client_id: a.claimedClientId ?? null } : {}),
        detail: refusal.description,
        ...(grants ? { granted: [], refused: grants.refused, ...inputsForAudit(grants.matched) } : {}),
        ...(refusal instanceof ResourceScopesRefused ? { granted: [], refused: refusal.grants.refused } : {}),
      },
    });
  }
}

function actionOf(a: Attempt): string {
  return a.grant === JWT_BEARER_GRANT ? TOKEN_ISSUE_ACTION : TOKEN_EXCHANGE_ACTION;
}

function toOAuthError(err: unknown): OAuthError {
  if (err instanceof OAuthError) return err;
  if (err instanceof DomainError && err.code === 'unavailable') {
    return new OAuthError('temporarily_unavailable', err.detail, { retryAfter: err.details.retryAfter ?? 1 });
  }
  if (isDatabaseUnavailable(err))
    return new OAuthError('temporarily_unavailable', 'the database is unavailable; no token was issued', { retryAfter: 1 });
  throw err;
}

/** The client id the request claims, for the rate-limit key and the audit; never trusted. */
export function claimedClientId(form: Record<string, unknown>, authorization: string | undefined): string | undefined {
  let id: unknown = form.client_id;
  if (id === undefined && authorization && /^basic /i.test(authorization)) {
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
    id = decoded.includes(':') ? safeDecode(decoded.slice(0, decoded.indexOf(':'))) : undefined;
  }
  if (id === undefined && typeof form.client_assertion === 'string') id = peekJwt(form.client_assertion)?.payload.sub;
  return typeof id === 'string' && CLIENT_ID.test(id) ? id : undefined;
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}
