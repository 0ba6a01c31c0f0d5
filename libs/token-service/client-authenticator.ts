import { createPublicKey, JsonWebKey } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { IssuerEntry, isWellFormedIdentifier, lifetimeProblem, TrustedIssuerRegistry } from '../auth';
import { ALLOWED_ALGORITHMS, VAULT_CONFIG, VaultConfig } from '../config';
import { asTenantId, TenantId } from '../kernel';
import { Agent, AgentStore, credentialMatches } from '../policy';
import { ClientAssertionReplayStore } from './assertion-replay.store';
import { AssertionKey, peekJwt, verifyAssertion } from './client-assertion';
import { PresentedClient } from './exchange-request';
import { OAuthError } from './oauth-error';

/** How the agent proved who it is. `federation`: a token about the agent from a trusted issuer. */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'federation';

export interface AuthenticatedClient {
  clientId: string;
  method: ClientAuthMethod;
  /** For `federation`: the issuer that vouched for the agent. */
  issuer?: string;
  /** The agent's `accepted_audiences`: subject-token audiences it may exchange besides VAULT_AUDIENCE. */
  acceptedAudiences: string[];
  /** The agent is registered `dpop_bound`: its tokens need a DPoP proof. */
  dpopBound?: boolean;
}

/** private_key_jwt assertions may not be valid for longer than this (bounds the replay table). */
const MAX_ASSERTION_LIFETIME_SECONDS = 600;
const JTI = /^[\x21-\x7E]{1,256}$/;

/**
 * Authenticates an agent (a registered client of one tenant) at the token endpoint:
 * - `client_secret_basic` / `client_secret_post`: the secret, compared in constant time
 *   against the current and (during a rotation overlap) the previous hash;
 * - `private_key_jwt` (RFC 7523): an assertion with iss = sub = client_id, aud = the token
 *   endpoint or the issuer, signed with a key from the agent's registered JWKS; each `jti` once;
 * - federation: an assertion from a TRUSTED_ISSUERS issuer (not the vault itself) whose `sub`
 *   is the client_id of an agent registered with `auth_method: "none"`, whose tenant is the
 *   agent's, and whose `aud` is the token endpoint — so a user's token for the vault can never
 *   pass as one. No `jti` bookkeeping: workload identity tokens are reused until they expire.
 * - federated identity credentials (issue 18): an agent registered with `none` and a list of
 *   credentials {issuer, subject, audiences, claims} is authenticated by an assertion from that
 *   trusted issuer matching one of them (an Entra agent identity's GUID `sub`, a Kubernetes
 *   service account); an assertion matching two agents is refused. An agent with credentials is
 *   no longer reachable by the `sub == client_id` rule above.
 * The agent must be registered with the method it uses, and not disabled. Every failure is `invalid_client`.
 */
@Injectable()
export class ClientAuthenticator {
  private readonly tokenEndpoint: string;

  constructor(
    private readonly agents: AgentStore,
    private readonly replay: ClientAssertionReplayStore,
    private readonly registry: TrustedIssuerRegistry,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
  ) {
    this.tokenEndpoint = `${config.publicUrl}/oauth2/token`;
  }

  async authenticate(tenant: TenantId, presented: PresentedClient): Promise<AuthenticatedClient> {
    if (presented.kind === 'secret') return this.bySecret(tenant, presented);
    const peeked = peekJwt(presented.assertion);
    if (!peeked) throw failed('client assertion is malformed');
    const iss = peeked.payload.iss;
    const sub = peeked.payload.sub;
    if (typeof iss !== 'string' || typeof sub !== 'string') throw failed('client assertion needs iss and sub');
    // `sub` names the agent and is looked up before the signature is checked: it must be an identifier.
    if (!isWellFormedIdentifier(sub) || !isWellFormedIdentifier(iss))
      throw failed('client assertion iss and sub must be well-formed identifiers');
    if (iss !== sub) {
      const byCredential = await this.byFederatedCredential(tenant, iss, sub, presented);
      if (byCredential) return byCredential;
    }
    if (presented.clientId !== undefined && presented.clientId !== sub) throw failed('client_id does not match the assertion');
    if (iss === sub) return this.byPrivateKeyJwt(tenant, sub, presented.assertion);
    return this.byFederation(tenant, iss, sub, presented.assertion);
  }

  private async bySecret(tenant: TenantId, p: Extract<PresentedClient, { kind: 'secret' }>): Promise<AuthenticatedClient> {
    // Check the secret first, for every caller, so unknown agents cost what known ones do.
    const ok = await this.agents.verifySecret(tenant, p.clientId, p.secret);
    const agent = ok ? await this.agents.find(tenant, p.clientId) : undefined;
    if (!ok || !agent) throw failed('client authentication failed');
    if (agent.disabled) throw failed('this client is disabled');
    if (agent.auth_method !== p.method) throw failed(`this client is registered for ${agent.auth_method}`);
    return { clientId: p.clientId, method: p.method, acceptedAudiences: agent.accepted_audiences, dpopBound: agent.dpop_bound };
  }

  private async byPrivateKeyJwt(tenant: TenantId, clientId: string, assertion: string): Promise<AuthenticatedClient> {
    const agent = await this.agents.find(tenant, clientId);
    if (!agent || agent.auth_method !== 'private_key_jwt') throw failed('client authentication failed');
    if (agent.disabled) throw failed('this client is disabled');
    const payload = await verifyAssertion(assertion, {
      issuer: clientId,
      audiences: [this.tokenEndpoint, this.config.publicUrl],
      algorithms: new Set(ALLOWED_ALGORITHMS),
      key: async (kid) => agentKey(agent, kid),
      skewSeconds: this.config.clockSkewSeconds,
    });
    const now = Math.floor(Date.now() / 1000);
    const exp = payload.exp as number;
    if (exp > now + MAX_ASSERTION_LIFETIME_SECONDS + this.config.clockSkewSeconds)
      throw failed(`client assertion may be valid for at most ${MAX_ASSERTION_LIFETIME_SECONDS} s`);
    if (typeof payload.jti !== 'string' || !JTI.test(payload.jti)) throw failed('client assertion needs a jti');
    const fresh = await this.replay.use(tenant, clientId, payload.jti, new Date((exp + this.config.clockSkewSeconds) * 1000));
    if (!fresh) throw failed('client assertion was already used');
    return { clientId, method: 'private_key_jwt', acceptedAudiences: agent.accepted_audiences, dpopBound: agent.dpop_bound };
  }

  private async byFederation(tenant: TenantId, iss: string, clientId: string, assertion: string): Promise<AuthenticatedClient> {
    const issuer = iss === this.config.publicUrl ? undefined : this.registry.get(iss);
    if (!issuer) throw failed('client assertion issuer is not trusted');
    const agent = await this.agents.find(tenant, clientId);
    // Verified first: only a caller its issuer vouched for learns why its agent is refused.
    await this.verifyFederated(tenant, issuer, assertion, [this.tokenEndpoint]);
    if (!agent) throw failed('client assertion sub names no registered agent');
    if (agent.auth_method !== 'none') throw failed(notForFederation(agent.auth_method));
    // An agent with federated credentials is authenticated by them only.
    if (agent.federated_credentials.length)
      throw failed('the agent has federated credentials: the assertion must match one of them (sub == client_id does not apply)');
    if (agent.disabled) throw failed('this client is disabled');
    return { clientId, method: 'federation', issuer: iss, acceptedAudiences: agent.accepted_audiences, dpopBound: agent.dpop_bound };
  }

  /**
   * Undefined when no agent of the tenant has a credential for this issuer and subject (the
   * `sub == client_id` rule applies then). Otherwise the one agent whose credential the verified
   * assertion matches, or `invalid_client`.
   */
  private async byFederatedCredential(
    tenant: TenantId,
    iss: string,
    sub: string,
    presented: Extract<PresentedClient, { kind: 'assertion' }>,
  ): Promise<AuthenticatedClient | undefined> {
    const candidates = await this.agents.findByFederatedSubject(tenant, iss, sub);
    if (!candidates.length) return undefined;
    const issuer = iss === this.config.publicUrl ? undefined : this.registry.get(iss);
    if (!issuer) throw failed('client assertion issuer is not trusted');
    const mine = candidates.flatMap((a) => a.federated_credentials.filter((c) => c.issuer === iss && c.subject === sub));
    const audiences = [...new Set(mine.flatMap((c) => (c.audiences.length ? c.audiences : [this.tokenEndpoint])))];
    const payload = await this.verifyFederated(tenant, issuer, presented.assertion, audiences);
    const matching = candidates.filter((a) => a.federated_credentials.some((c) => credentialMatches(c, payload, [this.tokenEndpoint])));
    if (!matching.length) throw failed('client assertion matches no federated credential (audience or claims differ)');
    if (matching.length > 1) throw failed('client assertion matches the federated credentials of more than one agent');
    const agent = matching[0];
    if (agent.auth_method !== 'none') throw failed(notForFederation(agent.auth_method));
    if (agent.disabled) throw failed('this client is disabled');
    if (presented.clientId !== undefined && presented.clientId !== agent.client_id) throw failed('client_id does not match the assertion');
    return {
      clientId: agent.client_id,
      method: 'federation',
      issuer: iss,
      acceptedAudiences: agent.accepted_audiences,
      dpopBound: agent.dpop_bound,
    };
  }

  /** Signature, `aud` ∋ one of `audiences`, lifetime, no `act`, and the tenant claim naming `tenant`. */
  private async verifyFederated(
    tenant: TenantId,
    issuer: IssuerEntry,
    assertion: string,
    audiences: string[],
  ): Promise<Record<string, unknown>> {
    const payload = await verifyAssertion(assertion, {
      issuer: issuer.issuer,
      audiences,
      algorithms: issuer.algorithms,
      key: (kid) => issuer.keys(kid),
      skewSeconds: this.config.clockSkewSeconds,
    });
    if (payload.act !== undefined) throw failed('a federated client assertion must not carry act');
    const lifetime = lifetimeProblem(payload, Math.floor(Date.now() / 1000), this.config.maxExternalTokenLifetimeSeconds);
    if (lifetime) throw failed(lifetime.replace(/^token/, 'client assertion'));
    const claimed = payload[issuer.tenantClaim] ?? issuer.defaultTenant;
    if (typeof claimed !== 'string' || !sameTenant(claimed, tenant)) throw failed('client assertion is for another tenant');
    return payload;
  }
}

function agentKey(agent: Agent, kid: string | undefined): AssertionKey {
  const keys = (agent.jwks?.keys ?? []).filter(
    (k): k is Record<string, unknown> => k !== null && typeof k === 'object' && !Array.isArray(k),
  );
  const usable = keys.filter((k) => k.use === undefined || k.use === 'sig');
  const jwk = kid === undefined ? (usable.length === 1 ? usable[0] : undefined) : usable.find((k) => k.kid === kid);
  if (!jwk) throw new Error('key not found');
  // Only the public members: a registered private key must not make us hold key material.
  const key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  return { key, alg: typeof jwk.alg === 'string' ? jwk.alg : undefined };
}

function sameTenant(claimed: string, tenant: TenantId): boolean {
  try {
    return asTenantId(claimed) === tenant;
  } catch {
    return false;
  }
}

function failed(reason: string): OAuthError {
  return new OAuthError('invalid_client', reason);
}

/** Why a verified federated assertion does not authenticate an agent registered with another method (names the method, nothing secret). */
function notForFederation(method: string): string {
  return `the agent authenticates with ${method}; federated assertions authenticate only agents registered with auth_method "none"`;
}
