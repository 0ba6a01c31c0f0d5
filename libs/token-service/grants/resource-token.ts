import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import jwt from 'jsonwebtoken';
import { VAULT_CONFIG, VaultConfig } from '../../config';
import { TenantId } from '../../kernel';
import { rolesFromClaims } from '../../policy';
import { decideResourceScopes, Resource, ResourceGrants, ResourceStore } from '../../resources';
import { OAuthError } from '../oauth-error';
import { TokenSigningKeys } from '../signing-keys';

/** Who a resource token is for and who asks for it. */
export interface ResourceTokenRequest {
  tenant: TenantId;
  resource: Resource;
  subject: string;
  /** The user's claims (roles and groups are read from them, as for policies). */
  claims: Record<string, unknown>;
  /** The OAuth client the token is issued to (`client_id`). */
  clientId: string;
  /** Set on token exchange: the agent acting, checked against the resource's `agents` and put in `act`. */
  agent?: string;
  /** The subject token's own `act`, kept under the agent's (RFC 8693 §4.1). */
  priorAct?: unknown;
  /** A delegated subject token's scopes bound what may be passed on. */
  delegated?: readonly string[];
  requested: readonly string[];
  /** Scopes requiring approval that the user approved (CIBA): only these of them may be granted. */
  approved?: readonly string[];
  /** Set by the CIBA grant: the approval's id (the token's `approval` claim) and the `jti` it recorded first. */
  approval?: { id: string; jti: string };
  /** Upper bounds on the lifetime (the subject token's remaining life, `expires_in`). */
  ttlCaps: ReadonlyArray<number | undefined>;
  /** The thumbprint of the DPoP proof's key (RFC 9449 §6): the token is bound to it (`cnf.jkt`). */
  jkt?: string;
}

export interface IssuedResourceToken {
  jwt: string;
  jti: string;
  expiresIn: number;
  grants: ResourceGrants;
}

/** Nothing requested could be granted for the resource: `invalid_scope`, with the per-scope reasons for the audit. */
export class ResourceScopesRefused extends OAuthError {
  constructor(
    readonly grants: ResourceGrants,
    bcAuthorize?: string,
  ) {
    const needApproval = grants.refused.some((r) => r.reason === 'approval_required');
    super(
      'invalid_scope',
      `no requested scope is allowed: ${grants.refused.map((r) => `${r.scope} (${r.reason})`).join(', ')}` +
        // Where an agent gets the scopes a person must approve: CIBA with the same resource and scopes.
        (needApproval && bcAuthorize ? `; ask the user's approval at ${bcAuthorize} with this resource and scope` : ''),
    );
  }
}

/**
 * RFC 9068 access tokens for the tenant's resources (RFC 8707): `aud` is the resource identifier,
 * `scope` what issuance-time policy allowed, signed with the vault's token keys (its JWKS), so a
 * resource server verifies them like any JWT access token. The vault itself never accepts them
 * (their `aud` is not the vault). Bound to a DPoP key (`cnf.jkt`) when the request carried a proof.
 */
@Injectable()
export class ResourceTokenIssuer {
  constructor(
    private readonly resources: ResourceStore,
    private readonly keys: TokenSigningKeys,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
  ) {}

  /** The registered resource a request names, or `invalid_target` (RFC 8707 §2). */
  async resolve(tenant: TenantId, identifier: string): Promise<Resource> {
    const r = await this.resources.byIdentifier(tenant, identifier);
    if (!r) throw new OAuthError('invalid_target', 'resource is not a registered resource of this tenant');
    return r;
  }

  /** The registered resource, or undefined (deleted since it was named). */
  find(tenant: TenantId, identifier: string): Promise<Resource | undefined> {
    return this.resources.byIdentifier(tenant, identifier);
  }

  async issue(req: ResourceTokenRequest): Promise<IssuedResourceToken> {
    const grants = decideResourceScopes(req.resource, req.requested, {
      agent: req.agent,
      roles: rolesFromClaims(req.claims),
      delegated: req.delegated,
      approved: req.approved,
    });
    // Only an agent (an authenticated client acting for the user) can ask for approval by CIBA: the hint is for it.
    if (!grants.granted.length)
      throw new ResourceScopesRefused(grants, req.agent !== undefined ? `${this.config.publicUrl}/oauth2/bc-authorize` : undefined);
    const now = Math.floor(Date.now() / 1000);
    const caps = [this.config.tokenMaxTtlSeconds, req.resource.token_ttl_seconds, ...req.ttlCaps].filter(
      (v): v is number => typeof v === 'number',
    );
    const expiresIn = Math.max(1, Math.min(...caps));
    const key = await this.keys.signingKey();
    const jti = req.approval?.jti ?? randomUUID();
    const act =
      req.agent === undefined ? undefined : req.priorAct !== undefined ? { sub: req.agent, act: req.priorAct } : { sub: req.agent };
    const claims = {
      iss: this.config.publicUrl,
      aud: req.resource.identifier,
      sub: req.subject,
      tid: req.tenant,
      ...(act ? { act } : {}),
      scope: grants.granted.join(' '),
      client_id: req.clientId,
      ...(req.approval ? { approval: req.approval.id } : {}),
      jti,
      iat: now,
      exp: now + expiresIn,
      ...(req.jkt ? { cnf: { jkt: req.jkt } } : {}),
    };
    const token = jwt.sign(claims, key.privateKey, { algorithm: key.alg, keyid: key.kid, header: { alg: key.alg, typ: 'at+jwt' } });
    return { jwt: token, jti, expiresIn, grants };
  }
}
