export { loadConfig, ConfigError, CONFIG_ENV_NAMES } from './config.schema';
export type { VaultConfig } from './config.schema';
export { ConfigModule, VAULT_CONFIG } from './config.module';
export { ALLOWED_ALGORITHMS, trustedIssuerSchema } from './trusted-issuers';
export type { TrustedIssuer, JwtAlgorithm } from './trusted-issuers';
