import { Inject, Injectable } from '@nestjs/common';
import { AuditLog } from '../audit';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { DomainError, TenantId } from '../kernel';
import { decideResourceScopes, Resource, ResourceGrants, ResourceStore } from '../resources';
import { AuthorizationStore, PendingRequest } from './authorization.store';
import { ClientRegistry, OAuthClientInfo, UnknownClientError } from './client-registry';
import { redirectUriMatches } from './redirect-uris';

/** The signed-in person, as the account session knows them. */
export interface Authorizer {
  sessionId: string;
  subject: string;
  roles: string[];
}

/** A request whose client and redirect URI are known good: from here on, errors go back to the client. */
export interface ValidAuthorizeRequest {
  tenant: TenantId;
  client: OAuthClientInfo;
  redirectUri: string;
  state: string | undefined;
  codeChallenge: string;
  resource: Resource;
  /** As asked for; omitted `scope`: every scope of the resource. */
  scopes: string[];
}

export type AuthorizeStep =
  | { kind: 'redirect'; url: string }
  | {
      kind: 'consent';
      requestId: string;
      client: OAuthClientInfo;
      resource: Resource;
      granted: Array<{ scope: string; description: string }>;
      refused: ResourceGrants['refused'];
      redirectOrigin: string;
    };

const PKCE_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;

/**
 * `GET /oauth2/authorize` for MCP clients (OAuth 2.1): code flow only, PKCE S256 required, exact
 * redirect URI match (any port on loopback, RFC 8252), `resource` (RFC 8707) required, `state` returned.
 * A client or redirect URI that does not check out is shown as an error page, never redirected to
 * (no open redirect); every later error goes back to the client with `state` and `iss` (RFC 9207).
 * The user's roles decide the scopes as for token exchange; a consent is remembered per (user,
 * client, resource) with its scopes and asked again when more is requested.
 */
@Injectable()
export class AuthorizeService {
  constructor(
    private readonly clients: ClientRegistry,
    private readonly resources: ResourceStore,
    private readonly store: AuthorizationStore,
    private readonly audit: AuditLog,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
  ) {}

  /** Checks the request; a `DomainError` is for the user's eyes, a `redirect` goes back to the client. */
  async validate(tenant: TenantId, q: Record<string, unknown>): Promise<ValidAuthorizeRequest | { kind: 'redirect'; url: string }> {
    for (const [k, v] of Object.entries(q)) if (typeof v !== 'string') throw page(`The parameter ${k} is repeated.`);
    const p = q as Record<string, string | undefined>;
    if (!p.client_id) throw page('The app did not say who it is (client_id is missing).');
    let client: OAuthClientInfo;
    try {
      client = await this.clients.resolve(tenant, p.client_id);
    } catch (err) {
      if (err instanceof UnknownClientError) throw page(`The app could not be recognised: ${err.message}.`);
      throw err;
    }
    if (!p.redirect_uri) throw page('The app did not say where to return to (redirect_uri is missing).');
    if (!redirectUriMatches(client.redirect_uris, p.redirect_uri))
      throw page('The app asked to return to an address it has not registered. Nothing was shared; close this page.');
    const back = (error: string, description: string) => ({
      kind: 'redirect' as const,
      url: this.errorUrl(p.redirect_uri!, error, description, p.state),
    });
    if (p.response_type !== 'code') return back('unsupported_response_type', 'response_type must be code');
    if (p.code_challenge_method !== 'S256') return back('invalid_request', 'PKCE is required with code_challenge_method S256');
    if (!p.code_challenge || !PKCE_CHALLENGE.test(p.code_challenge))
      return back('invalid_request', 'code_challenge must be a base64url SHA-256');
    // `state` is returned when given; PKCE already binds the answer to the client's request (OAuth 2.1
    // §7.5.3), and the MCP SDK's client sends none unless asked to.
    if (p.state !== undefined && (!p.state || p.state.length > 512)) return back('invalid_request', 'state must be 1 to 512 characters');
    if (!p.resource) return back('invalid_target', 'resource is required (RFC 8707): the identifier of the API or MCP server');
    const resource = await this.resources.byIdentifier(tenant, p.resource);
    if (!resource) return back('invalid_target', 'resource is not a registered resource');
    const scopes = p.scope === undefined ? Object.keys(resource.scopes) : [...new Set(p.scope.split(' ').filter(Boolean))];
    if (!scopes.length || scopes.length > 50 || !scopes.every((s) => SCOPE_TOKEN.test(s)))
      return back('invalid_scope', 'scope is malformed');
    return { tenant, client, redirectUri: p.redirect_uri, state: p.state, codeChallenge: p.code_challenge, resource, scopes };
  }

  /** For the signed-in user: a code straight away if they consented to this before, else the consent page's content. */
  async prepare(r: ValidAuthorizeRequest, who: Authorizer): Promise<AuthorizeStep> {
    const grants = decideResourceScopes(r.resource, r.scopes, { roles: who.roles });
    if (!grants.granted.length) {
      await this.record(r.tenant, who.subject, r.client.client_id, r.resource.identifier, 'denied', 'invalid_scope', {
        refused: grants.refused,
      });
      return {
        kind: 'redirect',
        url: this.errorUrl(r.redirectUri, 'invalid_scope', 'no requested scope is allowed for this user', r.state),
      };
    }
    const pending: PendingRequest = {
      tenant: r.tenant,
      subject: who.subject,
      roles: who.roles,
      client_id: r.client.client_id,
      redirect_uri: r.redirectUri,
      code_challenge: r.codeChallenge,
      state: r.state,
      resource: r.resource.identifier,
      scopes: grants.granted,
    };
    const known = await this.store.consent(r.tenant, who.subject, r.client.client_id, r.resource.identifier);
    if (known && grants.granted.every((s) => known.scopes.includes(s))) {
      return { kind: 'redirect', url: await this.issueCode(pending, { remembered: true, refused: grants.refused }) };
    }
    return {
      kind: 'consent',
      requestId: await this.store.saveRequest(who.sessionId, pending),
      client: r.client,
      resource: r.resource,
      granted: grants.granted.map((scope) => ({ scope, description: r.resource.scopes[scope].description })),
      refused: grants.refused,
      redirectOrigin: new URL(r.redirectUri).origin,
    };
  }

  /** The person's answer on the consent page: a code, or `access_denied`, back to the client. */
  async decide(tenant: TenantId, who: Authorizer, requestId: string, allow: boolean): Promise<string> {
    const pending = await this.store.takeRequest(tenant, who.sessionId, requestId);
    if (!pending) throw page('This request has expired or was already answered. Start again from the app.');
    if (!allow) {
      await this.record(tenant, who.subject, pending.client_id, pending.resource, 'denied', 'access_denied', { scopes: pending.scopes });
      return this.errorUrl(pending.redirect_uri, 'access_denied', 'the user declined', pending.state);
    }
    const client = await this.clients.resolve(tenant, pending.client_id);
    await this.store.saveConsent(tenant, pending.subject, {
      client_id: pending.client_id,
      client_name: client.client_name,
      resource: pending.resource,
      scopes: pending.scopes,
    });
    return this.issueCode(pending, { remembered: false });
  }

  /** The consents the user gave (their account page). */
  consents(tenant: TenantId, subject: string) {
    return this.store.consents(tenant, subject);
  }

  /** The user takes a consent back on /account: it is forgotten and its refresh tokens stop working. */
  async revokeConsent(tenant: TenantId, subject: string, clientId: string, resource: string): Promise<void> {
    if (!(await this.store.revokeConsent(tenant, subject, clientId, resource)))
      throw new DomainError('not_found', 'You gave no such access.');
    await this.audit.record({
      tenant,
      action: 'oauth.consent_revoke',
      outcome: 'allowed',
      subject,
      details: { client_id: clientId, resource, by: 'user' },
    });
  }

  private async issueCode(p: PendingRequest, details: Record<string, unknown>): Promise<string> {
    // Audited before the code leaves (fail closed).
    await this.record(p.tenant, p.subject, p.client_id, p.resource, 'allowed', null, { scopes: p.scopes, ...details });
    const code = await this.store.newCode(p);
    const url = new URL(p.redirect_uri);
    url.searchParams.set('code', code);
    if (p.state) url.searchParams.set('state', p.state);
    url.searchParams.set('iss', this.config.publicUrl);
    return url.href;
  }

  private errorUrl(redirectUri: string, error: string, description: string, state: string | undefined): string {
    const url = new URL(redirectUri);
    url.searchParams.set('error', error);
    url.searchParams.set('error_description', description);
    if (state) url.searchParams.set('state', state);
    url.searchParams.set('iss', this.config.publicUrl);
    return url.href;
  }

  private record(
    tenant: TenantId,
    subject: string,
    clientId: string,
    resource: string,
    outcome: 'allowed' | 'denied',
    reason: string | null,
    details: Record<string, unknown>,
  ) {
    return this.audit.record({
      tenant,
      action: 'oauth.authorize',
      outcome,
      ...(reason ? { reason } : {}),
      subject,
      details: { client_id: clientId, resource, ...details },
    });
  }
}

function page(message: string): DomainError {
  return new DomainError('invalid_request', message);
}
