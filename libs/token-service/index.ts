export { TokenServiceModule } from './token-service.module';
export { TokenExchangeService, TOKEN_EXCHANGE_ACTION, TOKEN_ENDPOINT_RATE } from './token-exchange.service';
export type { TokenEndpointCall, TokenExchangeResponse } from './token-exchange.service';
export { TokenSigningKeys, SIGNING_ALG } from './signing-keys';
export {
  TokenServiceMetadata,
  TOKEN_ENDPOINT_PATH,
  JWKS_PATH,
  PROTECTED_RESOURCE_METADATA_PATH,
  REVOCATION_ENDPOINT_PATH,
  INTROSPECTION_ENDPOINT_PATH,
} from './metadata';
export { OAuthError } from './oauth-error';
export type { OAuthErrorCode } from './oauth-error';
export { TOKEN_EXCHANGE_GRANT, JWT_BEARER_GRANT, TOKEN_TYPES, JWT_BEARER_ASSERTION } from './exchange-request';
export { TOKEN_ISSUE_ACTION, ON_BEHALF_OF } from './grants/jwt-bearer-request';
export { CibaGrant, CIBA_TOKEN_ACTION } from './grants/ciba.grant';
export type { BackchannelResponse, CibaTokenResponse } from './grants/ciba.grant';
export { CIBA_GRANT } from './grants/ciba-request';
export { TokenRevocationModule } from './token-revocation.module';
export { TokenRevocationService, TOKEN_REVOKE_ACTION, TOKEN_INTROSPECT_ACTION } from './token-revocation.service';
export type { RevocationCall, Introspection } from './token-revocation.service';
export { TokenRevocations, REVOCATION_CHANNEL } from './token-revocations';
