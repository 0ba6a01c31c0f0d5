import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import jwt from 'jsonwebtoken';
import { Approval, ApprovalPolls, ApprovalRequests, ApprovedGrant } from '../../approvals';
import { AuditLog, UNATTRIBUTED_TENANT } from '../../audit';
import { DpopProofVerifier, TokenVerifier, VerifiedToken } from '../../auth';
import { VAULT_CONFIG, VaultConfig } from '../../config';
import { isDatabaseUnavailable } from '../../db';
import { DomainError, TenantId } from '../../kernel';
import { rolesFromClaims } from '../../policy';
import { decideResourceScopes, Resource } from '../../resources';
import { AuthenticatedClient, ClientAuthenticator } from '../client-authenticator';
import { dpopBinding } from '../dpop-binding';
import { formOf, presentedClient } from '../exchange-request';
import { OAuthError } from '../oauth-error';
import { RateDecision, TokenBucketLimiter } from '../rate-limiter';
import { TokenSigningKeys } from '../signing-keys';
import { authReqIdOf, BackchannelRequest, parseBackchannelRequest } from './ciba-request';
import { ResourceTokenIssuer } from './resource-token';

/** The raw request, as the HTTP edge hands it over (as for `/oauth2/token`). */
export interface CibaCall {
  ip: string;
  contentType?: string;
  authorization?: string;
  body: unknown;
  /** The `DPoP` header (RFC 9449 §4), if any: the issued token is bound to its key (required for a `dpop_bound` agent). */
  dpop?: string | string[];
}

/** CIBA Core 1.0 §7.3. */
export interface BackchannelResponse {
  auth_req_id: string;
  expires_in: number;
  interval: number;
}

/** CIBA Core 1.0 §11: a vault token like an exchanged one, with the approval's id in its `approval` claim. */
export interface CibaTokenResponse {
  access_token: string;
  /** `DPoP` when the token is bound to the proof's key (RFC 9449 §5). */
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  scope: string;
}

export const CIBA_TOKEN_ACTION = 'token.ciba';
const RATE = { burst: 100, perSecond: 25 };

interface Attempt {
  tenant?: TenantId;
  client?: AuthenticatedClient;
  user?: VerifiedToken;
  approval?: Approval;
}

/**
 * The CIBA grant (OpenID CIBA Core 1.0, poll mode; issue 17 §3). `authorize` is
 * `POST /oauth2/bc-authorize`: the agent authenticates as at the token endpoint, names the user with
 * the user's own token, and gets an `auth_req_id`; the approvals context tells the user. `token` is
 * `grant_type=urn:openid:params:grant-type:ciba` at `/oauth2/token`: pending, slow down, denied,
 * expired, or (once) a token. Refusals and issuance are audited; pending polls are not (they are
 * the normal case, every few seconds).
 */
@Injectable()
export class CibaGrant {
  private readonly perIp = new TokenBucketLimiter(RATE);

  constructor(
    private readonly verifier: TokenVerifier,
    private readonly clients: ClientAuthenticator,
    private readonly requests: ApprovalRequests,
    private readonly polls: ApprovalPolls,
    private readonly keys: TokenSigningKeys,
    private readonly audit: AuditLog,
    private readonly dpop: DpopProofVerifier,
    private readonly resourceTokens: ResourceTokenIssuer,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
  ) {}

  async authorize(call: CibaCall): Promise<BackchannelResponse> {
    const a: Attempt = {};
    try {
      this.limit(this.perIp.take(call.ip));
      const form = formOf(call.contentType, call.body);
      const req: BackchannelRequest = parseBackchannelRequest(form);
      const presented = presentedClient(form, call.authorization);
      a.user = await this.verifyUser(req);
      a.tenant = a.user.tenant;
      a.client = await this.clients.authenticate(a.tenant, presented);
      const resource = req.resource === undefined ? undefined : await this.askableResource(a.tenant, a.client.clientId, a.user, req);
      const r = await this.requests.ask({
        tenant: a.tenant,
        agent: a.client.clientId,
        clientAuth: a.client.method,
        subject: a.user.subject,
        claims: a.user.claims,
        integrations: req.integrations,
        ...(resource ? { resource: { identifier: resource.identifier, title: resource.display_name, scopes: req.scopes } } : {}),
        bindingMessage: req.bindingMessage,
        authorizationDetails: req.authorizationDetails,
        requestedExpiry: req.requestedExpiry,
      });
      // A refusal there (policy, too many pending) is audited by the approvals context, with its reasons.
      if (!r.ok) throw new AlreadyAudited(r.error, r.description, r.error === 'rate_limited' ? { retryAfter: 60 } : {});
      return { auth_req_id: r.authReqId, expires_in: r.expiresIn, interval: r.interval };
    } catch (err) {
      const refusal = toOAuthError(err);
      if (refusal.error !== 'rate_limited' && !(refusal instanceof AlreadyAudited)) await this.refused('approval.request', a, refusal);
      throw refusal;
    }
  }

  async token(call: CibaCall): Promise<CibaTokenResponse> {
    const a: Attempt = {};
    try {
      this.limit(this.perIp.take(call.ip));
      const form = formOf(call.contentType, call.body);
      const authReqId = authReqIdOf(form);
      const presented = presentedClient(form, call.authorization);
      const owner = await this.polls.owner(authReqId);
      if (!owner) throw new OAuthError('invalid_grant', 'auth_req_id is unknown');
      a.tenant = owner.tenant;
      a.client = await this.clients.authenticate(owner.tenant, presented);
      // CIBA §11: an auth_req_id is bound to the client it was issued to.
      if (a.client.clientId !== owner.agent) throw new OAuthError('invalid_grant', 'auth_req_id was not issued to this client');
      const p = await this.polls.poll(authReqId);
      if (p.state === 'unknown') throw new OAuthError('invalid_grant', 'auth_req_id is unknown');
      a.approval = p.approval;
      switch (p.state) {
        case 'authorization_pending':
          throw new Pending('authorization_pending', 'the user has not answered yet');
        case 'slow_down':
          throw new Pending('slow_down', `polled too often: wait at least ${p.approval.intervalSeconds} seconds between requests`);
        case 'access_denied':
          throw new OAuthError('access_denied', 'the user denied the request');
        case 'expired_token':
          throw new OAuthError('expired_token', 'the request, or the approval, has expired; ask again at /oauth2/bc-authorize');
        case 'used':
          throw new OAuthError('invalid_grant', 'a token was already issued for this auth_req_id');
        case 'approved':
          // RFC 9449 §5, as for every grant: a dpop_bound agent must prove its key; any proof binds the token to it.
          return await this.issue(p.approval, p.grant, a.client, await dpopBinding(this.dpop, call.dpop, a.client.dpopBound === true));
      }
    } catch (err) {
      const refusal = toOAuthError(err);
      if (refusal.error !== 'rate_limited' && !(refusal instanceof Pending)) await this.refused(CIBA_TOKEN_ACTION, a, refusal);
      throw refusal;
    }
  }

  /**
   * The resource a backchannel request names (RFC 8707; unknown: `invalid_target`), if every scope
   * asked for is one this agent could get for this user once approved: all or nothing, as for connections.
   */
  private async askableResource(tenant: TenantId, agent: string, user: VerifiedToken, req: BackchannelRequest): Promise<Resource> {
    const resource = await this.resourceTokens.resolve(tenant, req.resource!);
    const d = decideResourceScopes(resource, req.scopes, { agent, roles: rolesFromClaims(user.claims), approved: req.scopes });
    if (d.refused.length)
      throw new OAuthError(
        'invalid_scope',
        `not allowed for this user and agent: ${d.refused.map((r) => `${r.scope} (${r.reason})`).join(', ')}`,
      );
    return resource;
  }

  /**
   * An RFC 9068 token for the approved resource scopes (`aud` = its identifier): its scope→role map
   * decides again now (roles as kept with the request, the agent's permission), the approval lets the
   * approved scopes that require one through.
   */
  private async issueForResource(approval: Approval, client: AuthenticatedClient, jkt?: string): Promise<CibaTokenResponse> {
    const resource = await this.resourceTokens.find(approval.tenant, approval.resource!);
    if (!resource) throw new OAuthError('access_denied', 'the resource that was approved no longer exists');
    const roles = rolesFromClaims(approval.claims);
    const ahead = decideResourceScopes(resource, approval.scopes, { agent: approval.agent, roles, approved: approval.scopes });
    if (!ahead.granted.length) throw new OAuthError('access_denied', 'policy no longer allows what was approved');
    const jti = randomUUID();
    if (!(await this.polls.markIssued(approval, jti)))
      throw new OAuthError('invalid_grant', 'a token was already issued for this auth_req_id, or the approval expired');
    const until = Math.floor(approval.approvedUntil!.getTime() / 1000);
    const issued = await this.resourceTokens.issue({
      tenant: approval.tenant,
      resource,
      subject: approval.subject,
      claims: approval.claims,
      clientId: approval.agent,
      agent: approval.agent,
      requested: approval.scopes,
      approved: approval.scopes,
      approval: { id: approval.id, jti },
      ...(jkt ? { jkt } : {}),
      // Never outlive the approval.
      ttlCaps: [until - Math.floor(Date.now() / 1000)],
    });
    await this.audit.record({
      tenant: approval.tenant,
      action: CIBA_TOKEN_ACTION,
      outcome: 'allowed',
      agent: approval.agent,
      subject: approval.subject,
      details: {
        approval: approval.id,
        resource: resource.identifier,
        client_auth: client.method,
        granted: issued.grants.granted,
        refused: issued.grants.refused,
        roles: issued.grants.roles,
        jti,
        expires_in: issued.expiresIn,
        ...(jkt ? { dpop_jkt: jkt } : {}),
      },
    });
    return {
      access_token: issued.jwt,
      token_type: jkt ? 'DPoP' : 'Bearer',
      expires_in: issued.expiresIn,
      scope: issued.grants.granted.join(' '),
    };
  }

  private async issue(approval: Approval, grant: ApprovedGrant, client: AuthenticatedClient, jkt?: string): Promise<CibaTokenResponse> {
    if (approval.resource !== null) return this.issueForResource(approval, client, jkt);
    // Policy may have changed since the user approved: what it no longer allows is left out.
    if (!grant.granted.length) throw new OAuthError('access_denied', 'policy no longer allows what was approved');
    // Before the approval is used up: a request without the proof a require_dpop policy asks for may be retried with one.
    if (!jkt && grant.dpopRequiredBy.length)
      throw new OAuthError('invalid_dpop_proof', `policy "${grant.dpopRequiredBy[0]}" requires a DPoP-bound token: send a DPoP proof`);
    const now = Math.floor(Date.now() / 1000);
    const until = Math.floor(approval.approvedUntil!.getTime() / 1000);
    // Never outlive the approval (the release path reads the approval from the token alone).
    const caps = [this.config.tokenMaxTtlSeconds, grant.maxTtlSeconds, until - now].filter((v): v is number => typeof v === 'number');
    const expiresIn = Math.max(1, Math.min(...caps));
    const jti = randomUUID();
    if (!(await this.polls.markIssued(approval, jti)))
      throw new OAuthError('invalid_grant', 'a token was already issued for this auth_req_id, or the approval expired');
    const key = await this.keys.signingKey();
    const claims = {
      iss: this.config.publicUrl,
      aud: this.config.audience,
      sub: approval.subject,
      tid: approval.tenant,
      act: { sub: approval.agent },
      scope: grant.granted.join(' '),
      client_id: approval.agent,
      approval: approval.id,
      jti,
      iat: now,
      exp: now + expiresIn,
      ...(jkt ? { cnf: { jkt } } : {}),
    };
    const token = jwt.sign(claims, key.privateKey, { algorithm: key.alg, keyid: key.kid, header: { alg: key.alg, typ: 'at+jwt' } });
    // Durable before the response: if the audit log cannot take it, no token leaves.
    await this.audit.record({
      tenant: approval.tenant,
      action: CIBA_TOKEN_ACTION,
      outcome: 'allowed',
      agent: approval.agent,
      subject: approval.subject,
      ...(grant.granted.length === 1 ? { integration: grant.granted[0].slice('connections:'.length) } : {}),
      details: {
        approval: approval.id,
        client_auth: client.method,
        granted: grant.granted,
        refused: grant.refused,
        policies: grant.policies,
        ...grant.matched,
        jti,
        expires_in: expiresIn,
        ...(jkt ? { dpop_jkt: jkt } : {}),
      },
    });
    return { access_token: token, token_type: jkt ? 'DPoP' : 'Bearer', expires_in: expiresIn, scope: grant.granted.join(' ') };
  }

  /** The user's token: verified like a subject token; an agent's token (with `act`) is not a user's. */
  private async verifyUser(req: BackchannelRequest): Promise<VerifiedToken> {
    let t: VerifiedToken;
    try {
      t = await this.verifier.verify(req.userToken);
    } catch (err) {
      if (err instanceof DomainError && err.code === 'invalid_token')
        throw new OAuthError('invalid_request', `${req.hint} is invalid: ${err.detail}`);
      throw err;
    }
    if (t.agent !== undefined) throw new OAuthError('invalid_request', `${req.hint} must be the user's own token, not an agent's`);
    return t;
  }

  private limit(d: RateDecision): void {
    if (!d.allowed) throw new OAuthError('rate_limited', 'too many requests; retry later', { retryAfter: d.retryAfterSeconds });
  }

  private async refused(action: string, a: Attempt, refusal: OAuthError): Promise<void> {
    await this.audit.record({
      tenant: a.tenant ?? UNATTRIBUTED_TENANT,
      action,
      outcome: refusal.status >= 500 ? 'error' : 'denied',
      reason: refusal.error,
      ...(a.client ? { agent: a.client.clientId } : {}),
      ...(a.user ? { subject: a.user.subject } : a.approval ? { subject: a.approval.subject } : {}),
      details: {
        ...(a.approval ? { approval: a.approval.id } : {}),
        client_auth: a.client?.method ?? null,
        detail: refusal.description,
      },
    });
  }
}

/** The request is waiting for the user: answered, not audited. */
class Pending extends OAuthError {}
/** Refused by the approvals context, which audited it. */
class AlreadyAudited extends OAuthError {}

function toOAuthError(err: unknown): OAuthError {
  if (err instanceof OAuthError) return err;
  if (err instanceof DomainError && err.code === 'unavailable')
    return new OAuthError('temporarily_unavailable', err.detail, { retryAfter: err.details.retryAfter ?? 1 });
  if (isDatabaseUnavailable(err)) return new OAuthError('temporarily_unavailable', 'the database is unavailable', { retryAfter: 1 });
  throw err;
}
