import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { noUserInfo, trustedIssuersSchema, TrustedIssuer, USER_INFO } from './trusted-issuers';

const bool = z.enum(['true', 'false']).transform((v) => v === 'true');
const port = z.coerce.number().int().min(0).max(65535);

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: port.default(8080),
  // Unset: 127.0.0.1 while the development issuer is on (its tokens are admin keys), else 0.0.0.0.
  HOST: z.string().min(1).optional(),
  VAULT_PUBLIC_URL: z.string().url().refine(noUserInfo, USER_INFO).optional(),
  VAULT_AUDIENCE: z.string().min(1).optional(),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  VAULT_DB_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier')
    .default('vault'),
  VAULT_DB_POOL_SIZE: z.coerce.number().int().min(1).max(500).default(20),
  VAULT_DATA_DIR: z.string().min(1).default('./.data'),
  KEY_PROVIDER: z.enum(['local', 'azure']).default('local'),
  LOCAL_KEK_FILE: z.string().min(1).optional(),
  AZURE_KEYVAULT_URL: z.string().url().refine(noUserInfo, USER_INFO).optional(),
  AZURE_KEYVAULT_KEY_NAME: z
    .string()
    .regex(/^[0-9a-zA-Z-]{1,127}$/, 'must be a Key Vault key name')
    .optional(),
  AZURE_KEYVAULT_CA_FILE: z.string().min(1).optional(),
  AZURE_KEYVAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: bool.default(false),
  AZURE_KEYVAULT_CREDENTIAL: z
    .string()
    .regex(/^(default|static:.+)$/, 'must be "default" or "static:<token>"')
    .default('default'),
  TRUSTED_ISSUERS: z.string().default('[]'),
  VAULT_CLOCK_SKEW_SECONDS: z.coerce.number().int().min(0).max(300).default(30),
  VAULT_TOKEN_MAX_TTL_SECONDS: z.coerce.number().int().min(10).max(3600).default(300),
  VAULT_MAX_EXTERNAL_TOKEN_LIFETIME_SECONDS: z.coerce.number().int().min(60).max(31_536_000).default(86400),
  VAULT_DEV_ISSUER: bool.optional(),
  VAULT_TK_CACHE_SIZE: z.coerce.number().int().min(1).default(10000),
  VAULT_TK_CACHE_MAX_AGE_SECONDS: z.coerce.number().int().min(1).default(3600),
  VAULT_KEY_HEALTH_TTL_MS: z.coerce.number().int().min(0).max(600000).default(5000),
  VAULT_AUDIT_TIMEOUT_MS: z.coerce.number().int().min(10).max(60000).default(2000),
  VAULT_AUDIT_BATCH_MAX: z.coerce.number().int().min(1).max(10000).default(256),
  // Signed audit-chain anchors (issue 22): how often, an optional append-only file, the Key Vault signing key.
  AUDIT_ANCHOR_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(86400).default(300),
  AUDIT_ANCHOR_FILE: z.string().min(1).optional(),
  AZURE_KEYVAULT_AUDIT_KEY_NAME: z
    .string()
    .regex(/^[0-9a-zA-Z-]{1,127}$/, 'must be a Key Vault key name')
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // Key rotation (issue 5): Key Vault request budget of rewrap jobs, batching, leases, cryptoperiods.
  KEY_ROTATION_KV_RPS: z.coerce.number().positive().max(10000).default(20),
  KEY_ROTATION_KV_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  KEY_ROTATION_BATCH_SIZE: z.coerce.number().int().min(1).max(10000).default(500),
  KEY_ROTATION_PARALLELISM: z.coerce.number().int().min(1).max(8).default(2),
  KEY_ROTATION_RETIRE_DELAY_MS: z.coerce.number().int().min(0).max(600000).default(5000),
  KEY_ROTATION_PERIOD_DAYS_KEK: z.coerce.number().int().min(1).max(3650).optional(),
  KEY_ROTATION_PERIOD_DAYS_TK: z.coerce.number().int().min(1).max(3650).optional(),
  KEY_JOB_LEASE_SECONDS: z.coerce.number().int().min(2).max(3600).default(60),
  KEY_SCHEDULER_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(86400).default(60),
  KEY_CACHE_SYNC_SECONDS: z.coerce.number().int().min(1).max(3600).default(5),
  KEY_PROVIDER_REFRESH_SECONDS: z.coerce.number().int().min(10).max(86400).default(300),
  KEY_JOBS_IN_PROCESS: bool.optional(),
  API_KEY_ROTATION_GRACE_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .max(90 * 86400)
    .default(86400),
  // Hosts, IPs or CIDRs provider calls may reach although private/loopback (on-premises providers, tests).
  OUTBOUND_ALLOW_HOSTS: z
    .string()
    .regex(/^[A-Za-z0-9.:\/\[\]_,\s-]*$/, 'must be a comma-separated list of hosts, IPs or CIDRs')
    .default(''),
  OUTBOUND_TIMEOUT_MS: z.coerce.number().int().min(100).max(60000).default(10000),
  // Background refresh (issue 4): leases longer than a provider call, batches, backoff.
  REFRESH_LEASE_SECONDS: z.coerce.number().int().min(2).max(3600).default(30),
  REFRESH_BATCH_SIZE: z.coerce.number().int().min(1).max(10000).default(200),
  REFRESH_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(32),
  REFRESH_POLL_INTERVAL_MS: z.coerce.number().int().min(10).max(600000).default(1000),
  REFRESH_BACKOFF_BASE_SECONDS: z.coerce.number().int().min(1).max(86400).default(30),
  REFRESH_BACKOFF_MAX_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(7 * 86400)
    .default(3600),
  REFRESH_IN_PROCESS: bool.optional(),
  // Issue 15: a release never waits longer than this on another process's refresh (then 503 + Retry-After).
  REFRESH_RELEASE_WAIT_MS: z.coerce.number().int().min(0).max(60000).default(2000),
  // Webhooks (issue 4): delivery of connection events from the outbox; backoff in ms (full jitter).
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60000).default(10000),
  WEBHOOK_LEASE_SECONDS: z.coerce.number().int().min(2).max(3600).default(60),
  WEBHOOK_BATCH_SIZE: z.coerce.number().int().min(1).max(1000).default(50),
  WEBHOOK_POLL_INTERVAL_MS: z.coerce.number().int().min(10).max(600000).default(1000),
  WEBHOOK_BACKOFF_BASE_MS: z.coerce.number().int().min(10).max(86400000).default(10000),
  WEBHOOK_BACKOFF_MAX_MS: z.coerce
    .number()
    .int()
    .min(10)
    .max(7 * 86400000)
    .default(3600000),
  WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(12),
  WEBHOOK_RETENTION_HOURS: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 365)
    .default(72),
  WEBHOOK_DEAD_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  WEBHOOKS_IN_PROCESS: bool.optional(),
  // The worker's Prometheus endpoint (it has no API): unset = none; 0 = a free port (printed at start).
  WORKER_METRICS_PORT: port.optional(),
  // Operations (issue 8): per-process request limits on the release and admin APIs (requests per window), proxies, shutdown.
  RATE_LIMIT_WINDOW_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  RATE_LIMIT_RELEASE_PER_IP: z.coerce.number().int().min(1).max(1_000_000).default(6000),
  RATE_LIMIT_RELEASE_PER_AGENT: z.coerce.number().int().min(1).max(1_000_000).default(6000),
  RATE_LIMIT_ADMIN_PER_IP: z.coerce.number().int().min(1).max(1_000_000).default(1200),
  RATE_LIMIT_ADMIN_PER_CALLER: z.coerce.number().int().min(1).max(1_000_000).default(1200),
  VAULT_TRUST_PROXY: z
    .string()
    .regex(/^(true|false|[0-9]{1,2}|[0-9A-Fa-f.:\/,\s]+)$/, 'must be true, false, a hop count or a comma-separated list of proxy IPs/CIDRs')
    .default('false'),
  VAULT_SHUTDOWN_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(600).default(25),
  // Users signing in (issue 17): the tenant of /account without /t/{tenant}, and the session timeouts.
  VAULT_DEFAULT_TENANT: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be a tenant id')
    .default('default'),
  USER_SESSION_IDLE_SECONDS: z.coerce.number().int().min(60).max(86400).default(1800),
  USER_SESSION_MAX_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(30 * 86400)
    .default(43200),
  // Approval mail (issue 17 §3): both or neither. The URL may hold the SMTP credentials; it is never logged.
  SMTP_URL: z
    .string()
    .url()
    .refine((v) => /^smtps?:$/.test(new URL(v).protocol), 'must be an smtp:// or smtps:// URL')
    .optional(),
  SMTP_FROM: z
    .string()
    .max(256)
    .regex(/^[^\r\n<>]*<?[^\s@<>]+@[^\s@<>]+>?$/, 'must be an e-mail address, optionally with a display name ("Vault <vault@example.com>")')
    .optional(),
  // The authorization server for MCP clients (issue 19): which tenants accept Dynamic Client Registration ("*": all),
  // how long a registered client lives unused, and a refresh token's lifetime.
  OAUTH_DCR_TENANTS: z
    .string()
    .regex(/^[A-Za-z0-9*._,\s-]*$/, 'must be a comma-separated list of tenant ids, or *')
    .default(''),
  OAUTH_CLIENT_UNUSED_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
  OAUTH_REFRESH_TOKEN_DAYS: z.coerce.number().int().min(1).max(365).default(30),
});

/** Every environment variable the configuration reads (checked against docker-compose.yml by the tests). */
export const CONFIG_ENV_NAMES: readonly string[] = Object.freeze(Object.keys(envSchema.shape));

export interface VaultConfig {
  env: 'development' | 'production' | 'test';
  port: number;
  host: string;
  publicUrl: string;
  audience: string;
  /** Users signing in: the tenant of `/account` (no `/t/{tenant}`), session idle and absolute timeouts. */
  users: { defaultTenant: string; sessionIdleSeconds: number; sessionMaxSeconds: number };
  /** Where approval requests are mailed from; absent when SMTP is not configured (webhooks only). */
  mail?: { smtpUrl: string; from: string };
  authorizationServer: { dcrTenants: string[]; clientUnusedDays: number; refreshTokenDays: number };
  database: { url?: string; schema: string; poolSize: number };
  dataDir: string;
  keyProvider:
    | { kind: 'local'; kekFile: string }
    | {
        kind: 'azure';
        vaultUrl: string;
        keyName: string;
        /** The EC or RSA key that signs audit anchors (never leaves Key Vault); unset = no anchors. */
        auditKeyName?: string;
        caFile?: string;
        disableChallengeResourceVerification: boolean;
        credential: { kind: 'default' } | { kind: 'static'; token: string };
      };
  trustedIssuers: TrustedIssuer[];
  clockSkewSeconds: number;
  /** Global cap on the lifetime of tokens the vault's token service issues. */
  tokenMaxTtlSeconds: number;
  /** Longest `exp - iat` (or `exp - now`) accepted on a token or assertion from a trusted issuer. */
  maxExternalTokenLifetimeSeconds: number;
  /** A development token issuer under the data dir, for the embedded default only. */
  devIssuer: boolean;
  tenantKeyCache: { size: number; maxAgeMs: number };
  /** How long a successful key-provider health check vouches for writes. */
  keyHealthTtlMs: number;
  audit: { timeoutMs: number; batchMax: number };
  /** Signed anchors of the audit chain head: how often, an optional append-only file, whether the API emits them itself. */
  auditAnchors: { intervalMs: number; file?: string; inProcess: boolean };
  logLevel: string;
  /** Key rotation jobs, scheduling and the API-key grace period (see libs/keys). */
  keys: {
    /** Key Vault requests per second a rewrap job may make, and how many in parallel. */
    kvRps: number;
    kvConcurrency: number;
    /** Records per DEK-rewrap transaction, and how many such transactions run side by side. */
    batchSize: number;
    rewrapLanes: number;
    /** Pause between the last DEK rewrap and destroying the old tenant key (in-flight reads finish). */
    retireDelayMs: number;
    /** Automatic rotation periods; unset = no automatic rotation (warnings then use a 365-day cryptoperiod). */
    rotationPeriodDays: { kek?: number; tk?: number };
    leaseMs: number;
    schedulerIntervalMs: number;
    /** How often a process evicts tenant keys destroyed by another process from its cache. */
    cacheSyncMs: number;
    /** How often a process re-reads the KEK's current version (picks up rotations made elsewhere). */
    providerRefreshMs: number;
    /** Run key jobs inside the API process (default: only for the embedded database). */
    jobsInProcess: boolean;
    /** How long the previous value of a rotated API key is kept. */
    apiKeyGraceMs: number;
  };
  /** Calls to OAuth providers: allowlisted private hosts, and the per-call timeout. */
  outbound: { allowHosts: string[]; timeoutMs: number };
  /** The refresh worker (libs/refresh RefreshScheduler). */
  refresh: {
    /** A refresher's claim on a connection; always longer than a provider call can take. */
    leaseMs: number;
    batchSize: number;
    /** Provider calls in flight per process. */
    concurrency: number;
    pollMs: number;
    /** Exponential backoff with jitter after a transient failure: first delay and cap. */
    backoffBaseMs: number;
    backoffMaxMs: number;
    /** Run the scheduler inside the API process (default: only for the embedded database). */
    inProcess: boolean;
    /** Longest a release waits on another process's refresh of an expired token; then 503 + Retry-After. */
    releaseWaitMs: number;
  };
  /** The worker process's `GET /metrics` port; undefined = not served. */
  workerMetricsPort?: number;
  /** Webhook delivery from the outbox (libs/webhooks WebhookDispatcher). */
  webhooks: {
    /** One POST to a tenant endpoint; the lease (a claimed row) always outlasts it. */
    timeoutMs: number;
    leaseMs: number;
    batchSize: number;
    pollMs: number;
    /** Exponential backoff with full jitter between attempts: first ceiling and cap. */
    backoffBaseMs: number;
    backoffMaxMs: number;
    /** Attempts before an event is `dead`. */
    maxAttempts: number;
    /** How long delivered (`retentionMs`) and dead (`deadRetentionMs`) events are kept. */
    retentionMs: number;
    deadRetentionMs: number;
    /** Run the dispatcher inside the API process (default: only for the embedded database). */
    inProcess: boolean;
  };
  /** Requests per `windowMs` and process on the release API (per client IP, per agent) and the admin API (per IP, per admin). */
  rateLimit: { windowMs: number; release: { perIp: number; perAgent: number }; admin: { perIp: number; perCaller: number } };
  /** Fastify `trustProxy`: whose `X-Forwarded-For` names the client (per-IP limits behind a load balancer). */
  trustProxy: boolean | number | string[];
  /** How long SIGTERM waits for in-flight requests and audit batches before the process exits anyway. */
  shutdownTimeoutMs: number;
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
  if (e && e.REFRESH_LEASE_SECONDS * 1000 < e.OUTBOUND_TIMEOUT_MS + 2000) {
    problems.push('REFRESH_LEASE_SECONDS: must exceed OUTBOUND_TIMEOUT_MS by at least 2 s (a provider call must end before its lease)');
  }
  if (e && e.REFRESH_BACKOFF_MAX_SECONDS < e.REFRESH_BACKOFF_BASE_SECONDS) {
    problems.push('REFRESH_BACKOFF_MAX_SECONDS: must be at least REFRESH_BACKOFF_BASE_SECONDS');
  }
  if (e && e.WEBHOOK_LEASE_SECONDS * 1000 < e.WEBHOOK_TIMEOUT_MS + 2000) {
    problems.push('WEBHOOK_LEASE_SECONDS: must exceed WEBHOOK_TIMEOUT_MS by at least 2 s (a delivery must end before its lease)');
  }
  if (e && e.WEBHOOK_BACKOFF_MAX_MS < e.WEBHOOK_BACKOFF_BASE_MS) {
    problems.push('WEBHOOK_BACKOFF_MAX_MS: must be at least WEBHOOK_BACKOFF_BASE_MS');
  }
  if (e && (e.SMTP_URL === undefined) !== (e.SMTP_FROM === undefined)) {
    problems.push('SMTP_URL, SMTP_FROM: set both to send approval mail, or neither');
  }
  if (!e || problems.length) throw new ConfigError(problems);

  const publicUrl = (e.VAULT_PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/$/, '');
  const dataDir = resolve(e.VAULT_DATA_DIR);
  const devIssuer = e.VAULT_DEV_ISSUER ?? (e.NODE_ENV !== 'production' && !e.DATABASE_URL);
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST ?? (devIssuer ? '127.0.0.1' : '0.0.0.0'),
    publicUrl,
    audience: e.VAULT_AUDIENCE ?? publicUrl,
    users: {
      defaultTenant: e.VAULT_DEFAULT_TENANT,
      sessionIdleSeconds: e.USER_SESSION_IDLE_SECONDS,
      sessionMaxSeconds: e.USER_SESSION_MAX_SECONDS,
    },
    ...(e.SMTP_URL && e.SMTP_FROM ? { mail: { smtpUrl: e.SMTP_URL, from: e.SMTP_FROM } } : {}),
    authorizationServer: {
      dcrTenants: e.OAUTH_DCR_TENANTS.split(',')
        .map((t) => t.trim())
        .filter(Boolean),
      clientUnusedDays: e.OAUTH_CLIENT_UNUSED_DAYS,
      refreshTokenDays: e.OAUTH_REFRESH_TOKEN_DAYS,
    },
    database: { url: e.DATABASE_URL, schema: e.VAULT_DB_SCHEMA, poolSize: e.VAULT_DB_POOL_SIZE },
    dataDir,
    keyProvider:
      e.KEY_PROVIDER === 'local'
        ? { kind: 'local', kekFile: resolve(e.LOCAL_KEK_FILE ?? join(dataDir, 'kek.json')) }
        : {
            kind: 'azure',
            vaultUrl: e.AZURE_KEYVAULT_URL!,
            keyName: e.AZURE_KEYVAULT_KEY_NAME!,
            auditKeyName: e.AZURE_KEYVAULT_AUDIT_KEY_NAME,
            caFile: e.AZURE_KEYVAULT_CA_FILE,
            disableChallengeResourceVerification: e.AZURE_KEYVAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION,
            credential:
              e.AZURE_KEYVAULT_CREDENTIAL === 'default'
                ? { kind: 'default' }
                : { kind: 'static', token: e.AZURE_KEYVAULT_CREDENTIAL.slice(7) },
          },
    trustedIssuers,
    clockSkewSeconds: e.VAULT_CLOCK_SKEW_SECONDS,
    tokenMaxTtlSeconds: e.VAULT_TOKEN_MAX_TTL_SECONDS,
    maxExternalTokenLifetimeSeconds: e.VAULT_MAX_EXTERNAL_TOKEN_LIFETIME_SECONDS,
    devIssuer,
    tenantKeyCache: { size: e.VAULT_TK_CACHE_SIZE, maxAgeMs: e.VAULT_TK_CACHE_MAX_AGE_SECONDS * 1000 },
    keyHealthTtlMs: e.VAULT_KEY_HEALTH_TTL_MS,
    audit: { timeoutMs: e.VAULT_AUDIT_TIMEOUT_MS, batchMax: e.VAULT_AUDIT_BATCH_MAX },
    // The API emits anchors itself only where it runs the worker's duties (the embedded default).
    auditAnchors: {
      intervalMs: e.AUDIT_ANCHOR_INTERVAL_SECONDS * 1000,
      file: e.AUDIT_ANCHOR_FILE ? resolve(e.AUDIT_ANCHOR_FILE) : undefined,
      inProcess: !e.DATABASE_URL,
    },
    logLevel: e.LOG_LEVEL,
    keys: {
      kvRps: e.KEY_ROTATION_KV_RPS,
      kvConcurrency: e.KEY_ROTATION_KV_CONCURRENCY,
      batchSize: e.KEY_ROTATION_BATCH_SIZE,
      rewrapLanes: e.KEY_ROTATION_PARALLELISM,
      retireDelayMs: e.KEY_ROTATION_RETIRE_DELAY_MS,
      rotationPeriodDays: { kek: e.KEY_ROTATION_PERIOD_DAYS_KEK, tk: e.KEY_ROTATION_PERIOD_DAYS_TK },
      leaseMs: e.KEY_JOB_LEASE_SECONDS * 1000,
      schedulerIntervalMs: e.KEY_SCHEDULER_INTERVAL_SECONDS * 1000,
      cacheSyncMs: e.KEY_CACHE_SYNC_SECONDS * 1000,
      providerRefreshMs: e.KEY_PROVIDER_REFRESH_SECONDS * 1000,
      jobsInProcess: e.KEY_JOBS_IN_PROCESS ?? !e.DATABASE_URL,
      apiKeyGraceMs: e.API_KEY_ROTATION_GRACE_SECONDS * 1000,
    },
    outbound: {
      allowHosts: e.OUTBOUND_ALLOW_HOSTS.split(',')
        .map((h) => h.trim())
        .filter(Boolean),
      timeoutMs: e.OUTBOUND_TIMEOUT_MS,
    },
    refresh: {
      leaseMs: e.REFRESH_LEASE_SECONDS * 1000,
      batchSize: e.REFRESH_BATCH_SIZE,
      concurrency: e.REFRESH_CONCURRENCY,
      pollMs: e.REFRESH_POLL_INTERVAL_MS,
      backoffBaseMs: e.REFRESH_BACKOFF_BASE_SECONDS * 1000,
      backoffMaxMs: e.REFRESH_BACKOFF_MAX_SECONDS * 1000,
      inProcess: e.REFRESH_IN_PROCESS ?? !e.DATABASE_URL,
      releaseWaitMs: e.REFRESH_RELEASE_WAIT_MS,
    },
    workerMetricsPort: e.WORKER_METRICS_PORT,
    webhooks: {
      timeoutMs: e.WEBHOOK_TIMEOUT_MS,
      leaseMs: e.WEBHOOK_LEASE_SECONDS * 1000,
      batchSize: e.WEBHOOK_BATCH_SIZE,
      pollMs: e.WEBHOOK_POLL_INTERVAL_MS,
      backoffBaseMs: e.WEBHOOK_BACKOFF_BASE_MS,
      backoffMaxMs: e.WEBHOOK_BACKOFF_MAX_MS,
      maxAttempts: e.WEBHOOK_MAX_ATTEMPTS,
      retentionMs: e.WEBHOOK_RETENTION_HOURS * 3600_000,
      deadRetentionMs: e.WEBHOOK_DEAD_RETENTION_DAYS * 86400_000,
      inProcess: e.WEBHOOKS_IN_PROCESS ?? !e.DATABASE_URL,
    },
    rateLimit: {
      windowMs: e.RATE_LIMIT_WINDOW_SECONDS * 1000,
      release: { perIp: e.RATE_LIMIT_RELEASE_PER_IP, perAgent: e.RATE_LIMIT_RELEASE_PER_AGENT },
      admin: { perIp: e.RATE_LIMIT_ADMIN_PER_IP, perCaller: e.RATE_LIMIT_ADMIN_PER_CALLER },
    },
    trustProxy: trustProxyOf(e.VAULT_TRUST_PROXY),
    shutdownTimeoutMs: e.VAULT_SHUTDOWN_TIMEOUT_SECONDS * 1000,
  };
}

function trustProxyOf(v: string): boolean | number | string[] {
  if (v === 'true' || v === 'false') return v === 'true';
  if (/^[0-9]{1,2}$/.test(v)) return Number(v);
  return v
    .split(',')
    .map((h) => h.trim())
    .filter(Boolean);
}
