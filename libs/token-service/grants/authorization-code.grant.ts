import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { AuditLog, UNATTRIBUTED_TENANT } from '../../audit';
import { DpopProofVerifier } from '../../auth';
import { AuthorizationStore, ClientRegistry, Grant, UnknownClientError } from '../../authorization';
import { isDatabaseUnavailable } from '../../db';
import { dpopBinding } from '../dpop-binding';
import { formOf } from '../exchange-request';
import { OAuthError } from '../oauth-error';
import { TokenBucketLimiter } from '../rate-limiter';
import type { TokenEndpointCall } from '../token-exchange.service';
import { ResourceScopesRefused, ResourceTokenIssuer } from './resource-token';

export const CODE_GRANTS = ['authorization_code', 'refresh_token'] as const;

/** RFC 6749 §5.1 with a rotated refresh token. */
export interface CodeFlowTokenResponse {
  access_token: string;
  /** `DPoP` when the request carried a proof: the access token is bound to its key (RFC 9449 §5). */
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  scope: string;
  refresh_token: string;
}

/** What the request brought that the audit of a refusal needs, and the `DPoP` header. */
interface Seen {
  grant?: Grant;
  proof?: string | string[];
}

const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

/**
 * The token endpoint for MCP clients (public clients, no secret): `authorization_code` with PKCE
 * and `refresh_token`, rotating. A code used twice revokes everything issued from it (its refresh
 * token family); a refresh token used twice revokes its family (OAuth 2.1 §4.3.1). Tokens are the
 * resource's RFC 9068 tokens, their scopes decided again at each issuance. Audited as
 * `token.authorization_code` and `token.refresh`.
 */
@Injectable()
export class AuthorizationCodeGrants {
  /**
   * The token endpoint's per-IP budget, the numbers of `TOKEN_ENDPOINT_RATE.perIp` (SECURITY.md 29); not
   * imported from token-exchange.service, which imports this file.
   */
  private readonly perIp = new TokenBucketLimiter({ burst: 100, perSecond: 25 });

  constructor(
    private readonly store: AuthorizationStore,
    private readonly clients: ClientRegistry,
    private readonly tokens: ResourceTokenIssuer,
    private readonly audit: AuditLog,
    private readonly dpop: DpopProofVerifier,
  ) {}

  async token(call: TokenEndpointCall): Promise<CodeFlowTokenResponse> {
    const d = this.perIp.take(call.ip);
    if (!d.allowed) throw new OAuthError('rate_limited', 'too many token requests; retry later', { retryAfter: d.retryAfterSeconds });
    const form = formOf(call.contentType, call.body);
    const action = form.grant_type === 'refresh_token' ? 'token.refresh' : 'token.authorization_code';
    const seen: Seen = { proof: call.dpop };
    try {
      return action === 'token.refresh' ? await this.refresh(form, seen) : await this.code(form, seen);
    } catch (err) {
      const refusal = toOAuthError(err);
      const g = seen.grant;
      await this.audit.record({
        tenant: g?.tenant ?? UNATTRIBUTED_TENANT,
        action,
        outcome: refusal.status >= 500 ? 'error' : 'denied',
        reason: refusal.error,
        ...(g ? { subject: g.subject } : {}),
        details: {
          client_id: typeof form.client_id === 'string' ? form.client_id.slice(0, 200) : null,
          ...(g ? { resource: g.resource, family: g.family } : {}),
          detail: refusal.description,
          ...(refusal instanceof ResourceScopesRefused ? { refused: refusal.grants.refused } : {}),
        },
      });
      throw refusal;
    }
  }

  private async code(form: Record<string, unknown>, seen: Seen): Promise<CodeFlowTokenResponse> {
    const p = params(form, ['code', 'client_id', 'redirect_uri', 'code_verifier']);
    const code = await this.store.redeemCode(p.code);
    if (!code) throw new OAuthError('invalid_grant', 'the code is not valid');
    seen.grant = code;
    if (code.replayed) {
      // The code leaked or the client is confused: nothing issued from it keeps working.
      await this.store.revokeFamily(code.family);
      throw new OAuthError('invalid_grant', 'the code was already used; the tokens issued from it are revoked');
    }
    if (code.expired) throw new OAuthError('invalid_grant', 'the code has expired');
    if (code.client_id !== p.client_id) throw new OAuthError('invalid_grant', 'the code was issued to another client');
    if (code.redirect_uri !== p.redirect_uri) throw new OAuthError('invalid_grant', 'redirect_uri differs from the authorization request');
    if (!VERIFIER.test(p.code_verifier))
      throw new OAuthError('invalid_grant', 'code_verifier is malformed (RFC 7636: 43 to 128 characters)');
    if (createHash('sha256').update(p.code_verifier).digest('base64url') !== code.code_challenge)
      throw new OAuthError('invalid_grant', 'code_verifier does not match the code_challenge (PKCE)');
    this.sameResource(form, code.resource);
    return this.issue(code, 'token.authorization_code', seen);
  }

  private async refresh(form: Record<string, unknown>, seen: Seen): Promise<CodeFlowTokenResponse> {
    const p = params(form, ['refresh_token', 'client_id']);
    const rt = await this.store.useRefreshToken(p.refresh_token);
    if (!rt) throw new OAuthError('invalid_grant', 'the refresh token is not valid');
    seen.grant = rt;
    if (rt.client_id !== p.client_id) throw new OAuthError('invalid_grant', 'the refresh token was issued to another client');
    if (rt.reused && !rt.revoked) {
      await this.store.revokeFamily(rt.family);
      throw new OAuthError('invalid_grant', 'the refresh token was already used; every token of its family is revoked');
    }
    if (rt.revoked || rt.reused) throw new OAuthError('invalid_grant', 'the refresh token was revoked');
    if (rt.expired) throw new OAuthError('invalid_grant', 'the refresh token has expired');
    // The user may have taken the consent back on /account.
    const consent = await this.store.consent(rt.tenant, rt.subject, rt.client_id, rt.resource);
    if (!consent) throw new OAuthError('invalid_grant', 'the user withdrew the consent');
    this.sameResource(form, rt.resource);
    const narrower = typeof form.scope === 'string' ? form.scope.split(' ').filter(Boolean) : undefined;
    if (narrower && !narrower.every((s) => rt.scopes.includes(s)))
      throw new OAuthError('invalid_scope', 'scope may only narrow the original grant');
    return this.issue({ ...rt, scopes: narrower ?? rt.scopes.filter((s) => consent.scopes.includes(s)) }, 'token.refresh', seen);
  }

  private async issue(g: Grant, action: string, seen: Seen): Promise<CodeFlowTokenResponse> {
    try {
      await this.clients.resolve(g.tenant, g.client_id);
    } catch (err) {
      if (err instanceof UnknownClientError) throw new OAuthError('invalid_client', err.message);
      throw err;
    }
    // These clients are not registered agents (no dpop_bound): a proof, when sent, binds the access token.
    const jkt = await dpopBinding(this.dpop, seen.proof, false);
    const resource = await this.tokens.resolve(g.tenant, g.resource);
    const issued = await this.tokens.issue({
      tenant: g.tenant,
      resource,
      subject: g.subject,
      claims: { roles: g.roles },
      clientId: g.client_id,
      requested: g.scopes,
      ttlCaps: [],
      jkt,
    });
    await this.audit.record({
      tenant: g.tenant,
      action,
      outcome: 'allowed',
      subject: g.subject,
      details: {
        client_id: g.client_id,
        resource: g.resource,
        family: g.family,
        granted: issued.grants.granted,
        refused: issued.grants.refused,
        jti: issued.jti,
        expires_in: issued.expiresIn,
        ...(jkt ? { dpop_jkt: jkt } : {}),
      },
    });
    const refresh = await this.store.newRefreshToken({ ...g, scopes: issued.grants.granted });
    return {
      access_token: issued.jwt,
      token_type: jkt ? 'DPoP' : 'Bearer',
      expires_in: issued.expiresIn,
      scope: issued.grants.granted.join(' '),
      refresh_token: refresh,
    };
  }

  private sameResource(form: Record<string, unknown>, resource: string): void {
    if (form.resource !== undefined && form.resource !== resource)
      throw new OAuthError('invalid_target', 'resource differs from the one the grant is for');
  }
}

function params<K extends string>(form: Record<string, unknown>, names: readonly K[]): Record<K, string> {
  if ('client_secret' in form || 'client_assertion' in form)
    throw new OAuthError('invalid_client', 'these clients are public: send client_id only');
  const out = {} as Record<K, string>;
  for (const n of names) {
    const v = form[n];
    if (typeof v !== 'string' || !v || v.length > 4096) throw new OAuthError('invalid_request', `${n} is required (once)`);
    out[n] = v;
  }
  return out;
}

function toOAuthError(err: unknown): OAuthError {
  if (err instanceof OAuthError) return err;
  if (isDatabaseUnavailable(err))
    return new OAuthError('temporarily_unavailable', 'the database is unavailable; no token was issued', { retryAfter: 1 });
  throw err;
}
