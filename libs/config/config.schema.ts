import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { trustedIssuersSchema, TrustedIssuer } from './trusted-issuers';

const bool = z.enum(['true', 'false']).transform((v) => v === 'true');
const port = z.coerce.number().int().min(0).max(65535);

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: port.default(8080),
  HOST: z.string().default('0.0.0.0'),
  VAULT_PUBLIC_URL: z.string().url().optional(),
  VAULT_AUDIENCE: z.string().min(1).optional(),
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
  VAULT_DB_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier').default('vault'),
  VAULT_DB_POOL_SIZE: z.coerce.number().int().min(1).max(500).default(20),
  VAULT_DATA_DIR: z.string().min(1).default('./.data'),
  KEY_PROVIDER: z.enum(['local', 'azure']).default('local'),
  LOCAL_KEK_FILE: z.string().min(1).optional(),
  AZURE_KEYVAULT_URL: z.string().url().optional(),
  AZURE_KEYVAULT_KEY_NAME: z.string().regex(/^[0-9a-zA-Z-]{1,127}$/, 'must be a Key Vault key name').optional(),
  AZURE_KEYVAULT_CA_FILE: z.string().min(1).optional(),
  AZURE_KEYVAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: bool.default('false'),
  AZURE_KEYVAULT_CREDENTIAL: z.string().regex(/^(default|static:.+)$/, 'must be "default" or "static:<token>"').default('default'),
  TRUSTED_ISSUERS: z.string().default('[]'),
  VAULT_CLOCK_SKEW_SECONDS: z.coerce.number().int().min(0).max(300).default(30),
  VAULT_TOKEN_MAX_TTL_SECONDS: z.coerce.number().int().min(10).max(3600).default(300),
  VAULT_DEV_ISSUER: bool.optional(),
  VAULT_TK_CACHE_SIZE: z.coerce.number().int().min(1).default(10000),
  VAULT_TK_CACHE_MAX_AGE_SECONDS: z.coerce.number().int().min(1).default(3600),
  VAULT_KEY_HEALTH_TTL_MS: z.coerce.number().int().min(0).max(600000).default(5000),
  VAULT_AUDIT_TIMEOUT_MS: z.coerce.number().int().min(10).max(60000).default(2000),
  VAULT_AUDIT_BATCH_MAX: z.coerce.number().int().min(1).max(10000).default(256),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface VaultConfig {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string;
  publicUrl: string;
  audience: string;
  database: { url?: string; schema: string; poolSize: number };
  dataDir: string;
  keyProvider:
    | { kind: 'local'; kekFile: string }
    | {
        kind: 'azure';
        vaultUrl: string;
        keyName: string;
        caFile?: string;
        disableChallengeResourceVerification: boolean;
        credential: { kind: 'default' } | { kind: 'static'; token: string };
      };
  trustedIssuers: TrustedIssuer[];
  clockSkewSeconds: number;
  /** Global cap on the lifetime of tokens the vault's token service issues. */
  tokenMaxTtlSeconds: number;
  /** A development token issuer under the data dir, for the embedded default only. */
  devIssuer: boolean;
  tenantKeyCache: { size: number; maxAgeMs: number };
  /** How long a successful key-provider health check vouches for writes. */
  keyHealthTtlMs: number;
  audit: { timeoutMs: number; batchMax: number };
  logLevel: string;
}

/** Invalid configuration: names every bad variable, never echoes values (they may be secrets). */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Builds the one typed configuration object from an environment; throws `ConfigError` listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): VaultConfig {
  const parsed = envSchema.safeParse(env);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.')}: ${issue.message}`);
  }
  const e = parsed.success ? parsed.data : undefined;

  let trustedIssuers: TrustedIssuer[] = [];
  const rawIssuers = typeof env.TRUSTED_ISSUERS === 'string' ? env.TRUSTED_ISSUERS : '[]';
  try {
    const text = rawIssuers.startsWith('@') ? readFileSync(rawIssuers.slice(1), 'utf8') : rawIssuers;
    const result = trustedIssuersSchema.safeParse(JSON.parse(text));
    if (result.success) trustedIssuers = result.data;
    else for (const issue of result.error.issues) problems.push(`TRUSTED_ISSUERS[${issue.path.join('.')}]: ${issue.message}`);
  } catch (err) {
    problems.push(`TRUSTED_ISSUERS: not valid JSON or unreadable file (${(err as Error).name})`);
  }

  if (e?.KEY_PROVIDER === 'azure') {
    if (!e.AZURE_KEYVAULT_URL) problems.push('AZURE_KEYVAULT_URL: required when KEY_PROVIDER=azure');
    if (!e.AZURE_KEYVAULT_KEY_NAME) problems.push('AZURE_KEYVAULT_KEY_NAME: required when KEY_PROVIDER=azure');
  }
  if (e?.KEY_PROVIDER === 'local' && e.NODE_ENV === 'production') {
    problems.push('KEY_PROVIDER: "local" is for development only and refuses NODE_ENV=production');
  }
  if (e?.NODE_ENV === 'production' && !e.VAULT_PUBLIC_URL) {
    problems.push('VAULT_PUBLIC_URL: required when NODE_ENV=production (it is the default token audience and issuer)');
  }
  if (e?.VAULT_DEV_ISSUER && e.NODE_ENV === 'production') {
    problems.push('VAULT_DEV_ISSUER: the development issuer refuses NODE_ENV=production');
  }
  if (!e || problems.length) throw new ConfigError(problems);

  const publicUrl = (e.VAULT_PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/$/, '');
  const dataDir = resolve(e.VAULT_DATA_DIR);
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    publicUrl,
    audience: e.VAULT_AUDIENCE ?? publicUrl,
    database: { url: e.DATABASE_URL, schema: e.VAULT_DB_SCHEMA, poolSize: e.VAULT_DB_POOL_SIZE },
    dataDir,
    keyProvider:
      e.KEY_PROVIDER === 'local'
        ? { kind: 'local', kekFile: resolve(e.LOCAL_KEK_FILE ?? join(dataDir, 'kek.json')) }
        : {
            kind: 'azure',
            vaultUrl: e.AZURE_KEYVAULT_URL!,
            keyName: e.AZURE_KEYVAULT_KEY_NAME!,
            caFile: e.AZURE_KEYVAULT_CA_FILE,
            disableChallengeResourceVerification: e.AZURE_KEYVAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION,
            credential: e.AZURE_KEYVAULT_CREDENTIAL === 'default' ? { kind: 'default' } : { kind: 'static', token: e.AZURE_KEYVAULT_CREDENTIAL.slice(7) },
          },
    trustedIssuers,
    clockSkewSeconds: e.VAULT_CLOCK_SKEW_SECONDS,
    tokenMaxTtlSeconds: e.VAULT_TOKEN_MAX_TTL_SECONDS,
    devIssuer: e.VAULT_DEV_ISSUER ?? (e.NODE_ENV !== 'production' && !e.DATABASE_URL),
    tenantKeyCache: { size: e.VAULT_TK_CACHE_SIZE, maxAgeMs: e.VAULT_TK_CACHE_MAX_AGE_SECONDS * 1000 },
    keyHealthTtlMs: e.VAULT_KEY_HEALTH_TTL_MS,
    audit: { timeoutMs: e.VAULT_AUDIT_TIMEOUT_MS, batchMax: e.VAULT_AUDIT_BATCH_MAX },
    logLevel: e.LOG_LEVEL,
  };
}
