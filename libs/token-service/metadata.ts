import { Inject, Injectable } from '@nestjs/common';
import { DPOP_SIGNING_ALGS, TrustedIssuerRegistry } from '../auth';
import { ALLOWED_ALGORITHMS, VAULT_CONFIG, VaultConfig } from '../config';
import { JWT_BEARER_ASSERTION, JWT_BEARER_GRANT, TOKEN_EXCHANGE_GRANT } from './exchange-request';
import { CIBA_GRANT } from './grants/ciba-request';
import { SIGNING_ALG } from './signing-keys';

/** Where the token service's documents live, relative to VAULT_PUBLIC_URL. */
export const TOKEN_ENDPOINT_PATH = '/oauth2/token';
export const JWKS_PATH = '/.well-known/jwks.json';
export const BC_AUTHORIZE_PATH = '/oauth2/bc-authorize';
export const REVOCATION_ENDPOINT_PATH = '/oauth2/revoke';
export const INTROSPECTION_ENDPOINT_PATH = '/oauth2/introspect';
/** RFC 9728: where the release API's protected-resource metadata is (named by its 401 challenges). */
export const PROTECTED_RESOURCE_METADATA_PATH = '/.well-known/oauth-protected-resource';
/** The authorization server for MCP clients (docs/resources.md); `/t/{tenant}` before them for another tenant than the default. */
export const AUTHORIZE_PATH = '/oauth2/authorize';
export const REGISTER_PATH = '/oauth2/register';

/** The discovery documents of the vault as an authorization server and as a protected resource. */
@Injectable()
export class TokenServiceMetadata {
  constructor(
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
    private readonly registry: TrustedIssuerRegistry,
  ) {}

  /** RFC 8414 authorization server metadata (the vault's own token service only). */
  authorizationServer(): Record<string, unknown> {
    const base = this.config.publicUrl;
    return {
      issuer: base,
      token_endpoint: base + TOKEN_ENDPOINT_PATH,
      jwks_uri: base + JWKS_PATH,
      authorization_endpoint: base + AUTHORIZE_PATH,
      // Dynamic Client Registration only where some tenant allows it (OAUTH_DCR_TENANTS).
      ...(this.config.authorizationServer.dcrTenants.length ? { registration_endpoint: base + REGISTER_PATH } : {}),
      // RFC 7009 / RFC 7662: clients authenticate as at the token endpoint (introspection also takes an admin's Bearer token).
      revocation_endpoint: base + REVOCATION_ENDPOINT_PATH,
      revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
      introspection_endpoint: base + INTROSPECTION_ENDPOINT_PATH,
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'bearer'],
      // RFC 9449 §5.1: DPoP proofs at the token endpoint bind the issued token to the key.
      dpop_signing_alg_values_supported: [...DPOP_SIGNING_ALGS],
      // jwt-bearer: the agent's own federated token, or a user's token with requested_token_use=on_behalf_of.
      grant_types_supported: [TOKEN_EXCHANGE_GRANT, JWT_BEARER_GRANT, 'authorization_code', 'refresh_token', CIBA_GRANT],
      // CIBA Core 1.0 §4, poll mode only: the user approves on the vault's /account pages.
      backchannel_authentication_endpoint: base + BC_AUTHORIZE_PATH,
      backchannel_token_delivery_modes_supported: ['poll'],
      backchannel_user_code_parameter_supported: false,
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      code_challenge_methods_supported: ['S256'],
      client_id_metadata_document_supported: true,
      authorization_response_iss_parameter_supported: true,
      // `none`: the public clients of the authorization endpoint (MCP clients).
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
      token_endpoint_auth_signing_alg_values_supported: [...ALLOWED_ALGORITHMS],
      client_assertion_types_supported: [JWT_BEARER_ASSERTION],
      // RFC 9068 access tokens, signed with the keys at jwks_uri.
      access_token_signing_alg_values_supported: [SIGNING_ALG],
      // RFC 9728 §4: the resource this server issues tokens for.
      protected_resources: [this.config.audience],
    };
  }

  /**
   * RFC 9728 protected resource metadata. `authorization_servers` lists the vault's own
   * token service first, then every other issuer whose tokens it accepts (TRUSTED_ISSUERS).
   */
  protectedResource(): Record<string, unknown> {
    const own = this.config.publicUrl;
    return {
      resource: this.config.audience,
      resource_name: 'Credential Vault',
      authorization_servers: [own, ...this.registry.issuers().filter((i) => i !== own)],
      bearer_methods_supported: ['header'],
      // RFC 9449 §5.2: DPoP-bound tokens are accepted with proofs signed by these algorithms.
      dpop_signing_alg_values_supported: [...DPOP_SIGNING_ALGS],
      resource_signing_alg_values_supported: [...ALLOWED_ALGORITHMS],
    };
  }
}
