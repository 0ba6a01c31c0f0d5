/**
 * Background-refresh benchmark: `npm run bench:refresh`. See bench/README.md "Refresh".
 *
 * BENCH_SCENARIO=storm (the default, issue 15): test/refresh/storm-scenario.ts on BENCH_CREDENTIALS
 * connections — rotating provider with reuse detection (half with a 30 s reuse grace window), 3
 * workers, SIGKILLs mid-batch and mid-call, a Postgres outage, a KEK rotation under Key Vault 429
 * bursts, a SIGTERM — reporting reuse revocations, needless re-consents, lost tokens, expired tokens
 * released, slow releases and refresh calls against the minimum. BENCH_SCENARIO=due (issue 4):
 *
 * Real parts, each in its own process: the vault API and BENCH_WORKERS workers (spawned from the
 * TypeScript sources), Postgres, the Key Vault emulator, and a real OpenID provider
 * (oidc-provider, Google-like: refresh tokens never rotate) answering after BENCH_PROVIDER_LATENCY_MS.
 * BENCH_CREDENTIALS OAuth connections fall due at once; measured: the time until every one was
 * refreshed, the provider calls made (each connection exactly once: no double refresh), the rows
 * each worker refreshed, and the release path's p50/p99 meanwhile against the same load idle.
 * BENCH_TENANTS spreads the connections over tenants; REFRESH_* in the environment reach the workers.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../libs/config';
import { AzureKeyProvider, Keyring, SealedFields } from '../libs/crypto';
import { NoConnectionEvents, OAuthCredentialStore } from '../libs/connections';
import { createDataSource } from '../libs/db';
import { asTenantId, Secret } from '../libs/kernel';
import { TestIssuer } from '../test/support/issuer';
import { startTestProvider, TestProvider } from '../test/support/oidc-provider';
import { parseForm, UserAgent } from '../test/support/oidc-provider/user-agent';
import { runStorm } from '../test/refresh/storm-scenario';
import {
  benchDatabase,
  childPids,
  cpuSeconds,
  fmt,
  freePort,
  keyVaultEmulator,
  loadFor,
  LoadStats,
  log,
  machine,
  machineCpu,
  round,
  secs,
  sleep,
  Spawned,
  startTs,
  until,
} from './support/harness';

const CREDENTIALS = Number(process.env.BENCH_CREDENTIALS ?? 10_000);
const LATENCY_MS = Number(process.env.BENCH_PROVIDER_LATENCY_MS ?? 50);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 2);
// 1 = every connection in one tenant (the worst case: one tenant key, see README); N spreads them round-robin over N tenants.
const TENANTS = Number(process.env.BENCH_TENANTS ?? 1);
const LOAD_CONCURRENCY = Number(process.env.BENCH_LOAD_CONCURRENCY ?? 8);
const API_KEY_USERS = 200;
const BASELINE_MS = Number(process.env.BENCH_BASELINE_MS ?? 10_000);
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_MS ?? 15 * 60_000);
// No row refreshed for this long while some are left: report them (status, error class) instead of waiting on.
const STALL_MS = Number(process.env.BENCH_STALL_SECONDS ?? 30) * 1000;
const T = 'bench';
const INTEGRATION = 'calendar';
const PUBLIC = 'https://vault.bench.example';
const CALLBACK = `${PUBLIC}/oauth/callback`;
const APP_RETURN = 'https://app.bench.example/settings/connections';

async function main(): Promise<void> {
  const started = Date.now();
  const results: Record<string, unknown> = { machine_at_start: machine() };
  const { url: dbUrl, drop, stopEmbedded } = await benchDatabase();
  const kv = await keyVaultEmulator();
  const provider = await startTestProvider({ mode: 'google', redirectUris: [CALLBACK] });
  const issuer = new TestIssuer('https://sts.bench.example', PUBLIC);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // REFRESH_* from the bench's environment reach the workers (try other concurrency / batch sizes).
  const refreshKnobs = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => k.startsWith('REFRESH_') || k === 'VAULT_DB_POOL_SIZE'),
  ) as Record<string, string>;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    NO_COLOR: '1',
    PORT: String(port),
    HOST: '127.0.0.1',
    VAULT_PUBLIC_URL: PUBLIC,
    DATABASE_URL: dbUrl,
    VAULT_DATA_DIR: mkdtempSync(join(tmpdir(), 'vault-bench-')),
    TRUSTED_ISSUERS: JSON.stringify([issuer.config({ tenant_claim: 'tid' })]),
    KEY_PROVIDER: 'azure',
    AZURE_KEYVAULT_URL: kv.url,
    AZURE_KEYVAULT_KEY_NAME: 'kek',
    AZURE_KEYVAULT_CA_FILE: kv.caFile,
    AZURE_KEYVAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: 'true',
    AZURE_KEYVAULT_CREDENTIAL: `static:${kv.token}`,
    KEY_SCHEDULER_INTERVAL_SECONDS: '3600',
    // The provider is on loopback over plain http.
    OUTBOUND_ALLOW_HOSTS: '127.0.0.1',
    // The release limiter (SECURITY 29) would answer most of a closed-loop load with 429s: not what is measured here.
    RATE_LIMIT_RELEASE_PER_IP: '1000000',
    RATE_LIMIT_RELEASE_PER_AGENT: '1000000',
    ...refreshKnobs,
  };
  const children: Spawned[] = [];
  let cleaned: Promise<void> | undefined;
  const cleanUp = () =>
    (cleaned ??= (async () => {
      for (const c of children) c.stop();
      await sleep(1500);
      await provider.close();
      await kv.stop().catch(() => undefined);
      await drop().catch((err) => log(`could not drop the database: ${err}`));
      await stopEmbedded();
    })());
  // An error event nobody listens to (e.g. Postgres refusing a connection: "too many clients") must not orphan the processes.
  process.once('uncaughtException', (err) => {
    process.stderr.write(`bench failed: ${err?.stack ?? err}\n`);
    void cleanUp().finally(() => process.exit(1));
  });
  try {
    const vault = startTs('apps/vault/main.ts', env, 'vault');
    children.push(vault);
    await until(async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200, 60_000);
    const admin = issuer.sign({ sub: 'bench-admin', tid: T, scope: 'vault:admin vault:operator' }, { ttl: 7200 });
    await setUp(base, admin, provider);
    for (let k = 1; k < TENANTS; k++)
      await putOAuthIntegration(base, issuer.sign({ sub: 'bench-admin', tid: tenantOf(k), scope: 'vault:admin' }, { ttl: 7200 }), provider);

    // ---- seed: one real connection through the connect flow, then CREDENTIALS - 1 more carrying its refresh token ----
    const t0 = Date.now();
    await connect(base, admin, 'u0');
    const ds = createDataSource({ url: dbUrl, schema: 'vault', poolSize: 4, applicationName: 'bench' });
    await ds.initialize();
    const kp = new AzureKeyProvider({
      kind: 'azure',
      vaultUrl: kv.url,
      keyName: 'kek',
      caFile: kv.caFile,
      disableChallengeResourceVerification: true,
      credential: { kind: 'static', token: kv.token },
    });
    await kp.init();
    // The vault's default cache size. With fewer entries than tenants being sealed at once, a seal
    // can wrap its DEK under a tenant key the cache zeroed meanwhile (README "Refresh", notes).
    const keyring = new Keyring(ds, kp, {
      cacheSize: 10_000,
      cacheMaxAgeMs: 3600_000,
      writeHealthTtlMs: 60_000,
      maxEncryptionsPerKey: 2 ** 30,
    });
    // Seeding only writes: the audit log (for decrypt failures on reads) is never reached, and the
    // workers under test enqueue their events in the real outbox.
    const store = new OAuthCredentialStore(
      ds,
      new SealedFields(keyring),
      { record: () => Promise.reject(new Error('seeding does not read')) } as never,
      new NoConnectionEvents(),
    );
    await seedConnections(ds, store);
    results.seed = { connections: CREDENTIALS, seconds: secs(Date.now() - t0) };
    log(`seeded ${CREDENTIALS} OAuth connections in ${secs(Date.now() - t0)} s`);
    for (let i = 0; i < API_KEY_USERS; i += 20) {
      await Promise.all(
        Array.from({ length: Math.min(20, API_KEY_USERS - i) }, (_, j) =>
          api(base, admin, 'PUT', `/v1/admin/connections/openai/users/k${i + j}`, { api_key: `sk-bench-${i + j}` }),
        ),
      );
    }
    await ds.query('VACUUM (ANALYZE) connections');
    await countCommits(ds);

    // ---- workers, idle: the connections are not due yet ----
    const workers = Array.from({ length: WORKERS }, (_, i) => startTs('apps/worker/main.ts', env, `worker-${i + 1}`));
    children.push(...workers);
    await Promise.all(workers.map((w) => w.line(/worker started/)));
    const tokens = Array.from({ length: API_KEY_USERS }, (_, i) =>
      issuer.sign({ sub: `k${i}`, tid: T, act: { sub: 'mcp-1' }, scope: 'connections:openai' }, { ttl: 7200 }),
    );
    const release = async () => {
      const r = await fetch(`${base}/v1/connections/openai/token`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens[Math.floor(Math.random() * tokens.length)]}` },
      });
      await r.arrayBuffer();
      return r.status;
    };
    if ((await release()) !== 200) throw new Error('release of an API key failed');

    // ---- baseline: release load with the workers polling an empty queue ----
    results.release_baseline = await loadFor(LOAD_CONCURRENCY, release, () => sleep(BASELINE_MS));
    log(`baseline release: ${fmt(results.release_baseline as LoadStats)}`);

    // ---- all due at once ----
    await provider.reset();
    await provider.faults({ latencyMs: LATENCY_MS });
    const before = await provider.stats();
    const parts: Record<string, number | undefined> = {
      vault_api: vault.proc.pid,
      ...Object.fromEntries(workers.map((w, i) => [`worker-${i + 1}`, w.proc.pid])),
      provider: childPids(process.pid, /server\.mjs/)[0],
      key_vault_emulator: childPids(process.pid, /kv-emulator/)[0],
    };
    const cpuBefore = await cpuSnapshot(ds, parts);
    const machineBefore = machineCpu();
    const [{ at: dueAt, n: due }] = await ds.query(
      `WITH d AS (UPDATE connections SET expires_at = now(), next_refresh_at = now() WHERE integration = $1 RETURNING 1)
       SELECT now() AS at, count(*)::int AS n FROM d`,
      [INTEGRATION],
    );
    if (due !== CREDENTIALS) throw new Error(`${due} connections made due, expected ${CREDENTIALS}`);
    log(`${due} connections due at ${dueAt.toISOString()}; provider latency ${LATENCY_MS} ms; ${WORKERS} workers`);
    const progress: Array<[number, number]> = [];
    const waits = sampleWaits(ds);
    let incomplete: unknown;
    const during = await loadFor(LOAD_CONCURRENCY, release, async () => {
      const end = Date.now() + TIMEOUT_MS;
      let moved = Date.now();
      for (;;) {
        const [{ n }] = await ds.query(`SELECT count(*)::int AS n FROM connections WHERE integration = $1 AND last_refresh_at >= $2`, [
          INTEGRATION,
          dueAt,
        ]);
        if (n !== progress.at(-1)?.[1]) moved = Date.now();
        progress.push([Date.now(), n]);
        if (progress.length % 10 === 1 || n === CREDENTIALS) log(`  refreshed ${n}/${CREDENTIALS}`);
        if (n === CREDENTIALS) return;
        if (Date.now() > end || Date.now() - moved > STALL_MS) {
          incomplete = await ds.query(
            `SELECT status, last_error_class, refresh_failures, count(*)::int AS n FROM connections
              WHERE integration = $1 AND (last_refresh_at IS NULL OR last_refresh_at < $2) GROUP BY 1, 2, 3`,
            [INTEGRATION, dueAt],
          );
          log(`STALLED: ${n}/${CREDENTIALS} refreshed; the rest: ${JSON.stringify(incomplete)}`);
          return;
        }
        await sleep(500);
      }
    });
    // A process that died mid-run (on this shared machine, anything may happen to it) makes the figures meaningless.
    const died = children.filter((c) => !c.alive()).length;
    if (died) throw new Error(`${died} of the benchmark's processes died during the refresh; see the log above`);
    const cpuAfter = await cpuSnapshot(ds, parts);
    const machineAfter = machineCpu();
    const waitSamples = await waits.stop();
    await sleep(2000); // anything still in flight (a double refresh would be) reaches the provider's counters
    const after = await provider.stats();

    // ---- figures ----
    const [span] = await ds.query(
      `SELECT EXTRACT(EPOCH FROM min(last_refresh_at) - $2)::float8 AS first, EXTRACT(EPOCH FROM max(last_refresh_at) - $2)::float8 AS last,
              count(*) FILTER (WHERE status <> 'active' OR refresh_failures > 0)::int AS unhealthy
         FROM connections WHERE integration = $1`,
      [INTEGRATION, dueAt],
    );
    const refreshCalls = after.token.refresh_token - before.token.refresh_token;
    const tokenRequests = after.tokenRequests - before.tokenRequests;
    const commits = await ds.query(
      `SELECT owner, count(*)::int AS n, count(DISTINCT id)::int AS rows FROM public.bench_refresh_commits GROUP BY owner ORDER BY owner`,
    );
    const [{ audited }] = await ds.query(
      `SELECT count(*)::int AS audited FROM audit_events WHERE action = ` +
        `'connection.refresh' AND outcome = 'allowed' AND details->>'trigger' = 'scheduled'`,
    );
    const [{ takeovers }] = await ds.query(`SELECT count(*)::int AS takeovers FROM public.bench_lease_takeovers`);
    const outcomes: Array<{ o: string; n: number }> = await ds.query(
      `SELECT outcome || COALESCE(':' || reason, '') AS o, count(*)::int AS n FROM audit_events WHERE action = ` +
        `'connection.refresh' GROUP BY 1 ORDER BY 2 DESC`,
    );
    // Refresh audit events that are not "allowed": did their connection also get an "allowed" one, and how many commits?
    const odd = await ds.query(
      `SELECT e.outcome || COALESCE(':' || e.reason, '') AS o, e.details->>'connection' AS id, e.details->>'version' AS version,
              (SELECT count(*) FROM audit_events a WHERE a.action = 'connection.refresh' AND a.outcome = 'allowed'
                AND a.details->>'connection' = e.details->>'connection')::int AS allowed,
              (SELECT count(*) FROM public.bench_refresh_commits b WHERE b.id::text = e.details->>'connection')::int AS commits
         FROM audit_events e WHERE e.action = 'connection.refresh' AND e.outcome <> 'allowed' LIMIT 5`,
    );
    const seconds = Number(span.last);
    const byWorker = Object.fromEntries(
      commits.map((c: { owner: string; n: number }) => {
        const pid = Number(c.owner?.split(':')[1]);
        const i = workers.findIndex((w) => w.proc.pid === pid);
        return [i >= 0 ? `worker-${i + 1}` : (c.owner ?? 'unknown'), c.n];
      }),
    );
    results.refresh = {
      ...(incomplete ? { INCOMPLETE_rows_not_refreshed: incomplete } : {}),
      credentials: CREDENTIALS,
      workers: WORKERS,
      tenants: TENANTS,
      provider_latency_ms: LATENCY_MS,
      // What the workers run with (their configuration, parsed from the same environment).
      settings: (({ concurrency, batchSize, pollMs, leaseMs }) => ({ concurrency, batchSize, pollMs, leaseMs }))(loadConfig(env).refresh),
      seconds_until_all_refreshed: round(seconds),
      seconds_until_first_refreshed: round(Number(span.first)),
      refreshes_per_second: Math.round(CREDENTIALS / seconds),
      provider_refresh_calls: refreshCalls,
      provider_token_requests: tokenRequests,
      provider_errors: after.tokenErrors,
      // Meaningless when some rows were never refreshed (see INCOMPLETE_rows_not_refreshed).
      double_refreshes: incomplete ? null : tokenRequests - CREDENTIALS,
      commits_per_worker: byWorker,
      committed_twice: commits.reduce((a: number, c: { n: number; rows: number }) => a + c.n, 0) - CREDENTIALS,
      // A lease that expired while its worker still queued the row; the next claimer took the row over.
      lease_takeovers: takeovers,
      audited_refreshes: audited,
      audit_refresh_outcomes: Object.fromEntries(outcomes.map((r) => [r.o, r.n])),
      audit_refresh_not_allowed_sample: odd,
      not_active_or_failed: span.unhealthy,
      // CPU seconds each part used while the refresh ran (postgres: the backends of this database, by application).
      cpu_seconds: {
        ...cpuDelta(cpuBefore, cpuAfter),
        machine_busy: machineBefore && machineAfter ? round(machineAfter.busy - machineBefore.busy) : null,
        // Busy CPU no part of the benchmark used: Postgres's own background processes and whatever else runs on the machine.
        not_ours:
          machineBefore && machineAfter
            ? round(machineAfter.busy - machineBefore.busy - Object.values(cpuDelta(cpuBefore, cpuAfter)).reduce((a, b) => a + b, 0))
            : null,
        machine_capacity: machineBefore && machineAfter ? round(machineAfter.total - machineBefore.total) : null,
      },
      // Postgres backends of this database seen active, by wait event, summed over samples every 250 ms.
      db_active_backends_by_wait: waitSamples,
      progress: thin(progress, Number(dueAt.getTime())),
    };
    results.release_during_refresh = during;
    log(
      `refreshed ${CREDENTIALS} in ${round(seconds)} s (${Math.round(CREDENTIALS / seconds)}/s); provider refresh ` +
        `calls ${refreshCalls}, token requests ${tokenRequests}`,
    );
    log(`double refreshes: ${incomplete ? 'n/a (incomplete)' : tokenRequests - CREDENTIALS}`);
    log(`per worker: ${JSON.stringify(byWorker)}; lease takeovers: ${takeovers}; audited: ${audited}`);
    log(`release during refresh: ${fmt(during)}`);
    await ds.destroy();
  } finally {
    await cleanUp();
  }
  results.machine_at_end = machine();
  results.total_seconds = secs(Date.now() - started);
  process.stdout.write(JSON.stringify(results, null, 2) + '\n');
}

/** The OAuth integration at the test provider, an API-key integration for the release load, one agent allowed both. */
async function setUp(base: string, admin: string, provider: TestProvider): Promise<void> {
  await putOAuthIntegration(base, admin, provider);
  await api(base, admin, 'PUT', '/v1/admin/integrations/openai', { provider: 'api_key' });
  await api(base, admin, 'PUT', '/v1/admin/agents/mcp-1', { name: 'bench agent' });
  await api(base, admin, 'PUT', '/v1/admin/policies/p', { agents: ['mcp-1'], integrations: ['openai', INTEGRATION], effect: 'allow' });
}

const tenantOf = (i: number) => (i % TENANTS === 0 ? T : `${T}-${i % TENANTS}`);

async function putOAuthIntegration(base: string, admin: string, provider: TestProvider): Promise<void> {
  await api(base, admin, 'PUT', `/v1/admin/integrations/${INTEGRATION}`, {
    provider: 'custom-oauth2',
    display_name: 'Team Calendar',
    client_id: provider.clientId,
    client_secret: provider.clientSecret,
    authorize_url: `${provider.url}/auth`,
    token_url: `${provider.url}/token`,
    revocation_url: `${provider.url}/token/revocation`,
    scopes: ['openid', 'email', 'offline_access', 'calendar.read'],
    return_urls: ['https://app.bench.example/settings/'],
    provider_options: {
      issuer: provider.issuer,
      require_iss: true,
      token_auth_method: 'client_secret_basic',
      identity: { source: 'id_token', subject: 'sub', email: 'email' },
      authorize_params: { access_type: 'offline', prompt: 'consent' },
    },
  });
}

/** The connect flow over HTTP (consent page, the provider's login and consent, callback), as test/connect/support.ts runs it. */
async function connect(base: string, admin: string, user: string): Promise<void> {
  const ua = new UserAgent((url) => (url.startsWith(PUBLIC) ? base + url.slice(PUBLIC.length) : url));
  const s = await api(base, admin, 'POST', '/v1/connect/sessions', { user, integration: INTEGRATION, return_url: APP_RETURN });
  const claim = await ua.get(s.url);
  if (claim.status !== 303 || !claim.location) throw new Error(`connect: claim ${claim.status}`);
  const page = await ua.get(claim.location);
  const form = parseForm(page.body, /\/authorize$/);
  if (!form) throw new Error(`connect: consent page ${page.status}`);
  const id = /\/connect\/s\/([0-9a-f-]{36})/.exec(claim.location)![1];
  const authorize = await ua.post(`${PUBLIC}/connect/s/${id}/authorize`, { csrf: form.fields.csrf });
  if (authorize.status !== 303 || !authorize.location) throw new Error(`connect: authorize ${authorize.status}`);
  const done = await ua.get(await ua.authorizeAt(authorize.location, CALLBACK, user));
  if (done.status !== 303 || !done.location?.includes('connected')) throw new Error(`connect: callback ${done.status} ${done.location}`);
}

/**
 * u1…u(N-1) get the refresh token the provider issued to u0, each sealed by the real
 * OAuthCredentialStore.put (own id, own DEK). The provider never rotates it, so every one of
 * the N refreshes is a real call that succeeds.
 */
async function seedConnections(ds: ReturnType<typeof createDataSource>, store: OAuthCredentialStore): Promise<void> {
  const [row] = await ds.query(
    `SELECT id, scopes, metadata, provider_account_id FROM connections WHERE tenant = $1 AND integration = $2 AND subject = 'u0'`,
    [T, INTEGRATION],
  );
  const seed = await store.load(asTenantId(T), row.id);
  if (!seed) throw new Error('the connected user has no connection');
  const tokens = await store.openTokens(seed);
  if (!tokens.access || !tokens.refresh) throw new Error('the provider issued no refresh token');
  const credential = {
    accessToken: Secret.of(tokens.access.reveal()),
    refreshToken: Secret.of(tokens.refresh.reveal()),
    expiresAt: new Date(Date.now() + 3600_000),
    refreshTokenExpiresAt: null,
    scopes: row.scopes,
    metadata: row.metadata ?? {},
    providerAccountId: row.provider_account_id,
  };
  let next = 1;
  const lane = async () => {
    while (next < CREDENTIALS) {
      const i = next++;
      await store.put(asTenantId(tenantOf(i)), INTEGRATION, `u${i}`, credential);
      if (i % 2000 === 0) log(`  seeding: ${i}/${CREDENTIALS}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, lane));
}

/**
 * Bench-only bookkeeping (this throwaway database, not the product): a trigger notes which lease
 * owner committed each refresh, so rows per worker and any second commit of one row are counted
 * exactly. One small insert into an unlogged table per refresh.
 */
async function countCommits(ds: ReturnType<typeof createDataSource>): Promise<void> {
  await ds.query(
    `CREATE UNLOGGED TABLE public.bench_refresh_commits (id uuid NOT NULL, owner text, at timestamptz NOT NULL DEFAULT clock_timestamp())`,
  );
  await ds.query(
    `CREATE UNLOGGED TABLE public.bench_lease_takeovers (id uuid NOT NULL, from_owner text, to_owner text, ` +
      `at timestamptz NOT NULL DEFAULT clock_timestamp())`,
  );
  await ds.query(`CREATE FUNCTION public.bench_note_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.last_refresh_at IS DISTINCT FROM OLD.last_refresh_at AND NEW.last_refresh_at IS NOT NULL THEN
        INSERT INTO public.bench_refresh_commits (id, owner) VALUES (NEW.id, OLD.lease_owner);
      END IF;
      -- A claim of a row whose previous lease was never given back (it expired while its holder still had it).
      IF OLD.lease_owner IS NOT NULL AND NEW.lease_owner IS NOT NULL AND NEW.lease_owner <> OLD.lease_owner THEN
        INSERT INTO public.bench_lease_takeovers (id, from_owner, to_owner) VALUES (NEW.id, OLD.lease_owner, NEW.lease_owner);
      END IF;
      RETURN NULL;
    END $$`);
  await ds.query(`CREATE TRIGGER bench_note_refresh AFTER UPDATE ON connections FOR EACH ROW
    WHEN ((NEW.last_refresh_at IS DISTINCT FROM OLD.last_refresh_at AND NEW.last_refresh_at IS NOT NULL)
       OR (OLD.lease_owner IS NOT NULL AND NEW.lease_owner IS NOT NULL AND NEW.lease_owner <> OLD.lease_owner))
    EXECUTE FUNCTION public.bench_note_refresh()`);
}

/**
 * CPU seconds used so far by each named process, this process, and each Postgres backend of this database
 * (`postgres:<application>#<pid>`).
 */
async function cpuSnapshot(
  ds: ReturnType<typeof createDataSource>,
  parts: Record<string, number | undefined>,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(parts)) {
    const c = cpuSeconds(pid);
    if (c !== undefined) out[name] = c;
  }
  const self = process.cpuUsage();
  out.bench_load_generator = (self.user + self.system) / 1e6;
  const backends: Array<{ pid: number; app: string }> = await ds.query(
    `SELECT pid, application_name AS app FROM pg_stat_activity WHERE datname = current_database()`,
  );
  for (const b of backends) {
    const c = cpuSeconds(b.pid);
    if (c !== undefined) out[`postgres:${b.app || 'other'}#${b.pid}`] = c;
  }
  return out;
}

/** CPU seconds between two snapshots, backends summed per application (a backend that appeared meanwhile counts whole). */
function cpuDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) {
    const name = k.replace(/#\d+$/, '');
    out[name] = round((out[name] ?? 0) + v - (before[k] ?? 0));
  }
  return out;
}

/** Samples what this database's active backends wait on (Lock, IO, …, or "cpu" when none) and in which statement, until stopped. */
function sampleWaits(ds: ReturnType<typeof createDataSource>): { stop(): Promise<Record<string, number>> } {
  const counts: Record<string, number> = {};
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const rows: Array<{ w: string; app: string; n: number }> = await ds.query(
        `SELECT COALESCE(wait_event_type || ':' || wait_event, 'cpu') || ' ' || regexp_replace(left(query, 48), '\\s+', ' ', 'g')
          AS w, application_name AS app, count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid() GROUP BY 1, 2`,
      );
      samples++;
      for (const r of rows) counts[`${r.app} ${r.w}`] = (counts[`${r.app} ${r.w}`] ?? 0) + r.n;
      await sleep(250);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { samples, ...Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1])) };
    },
  };
}

/** The refreshed-count curve, one point per ~2 s: "<seconds since due> s: <rows refreshed>". */
function thin(points: Array<[number, number]>, t0: number): string[] {
  const out: string[] = [];
  let last = -Infinity;
  for (const [t, n] of points) {
    if (t - last >= 2000 || n === CREDENTIALS) {
      out.push(`${round((t - t0) / 1000)} s: ${n}`);
      last = t;
    }
  }
  return out;
}

async function api(base: string, token: string, method: string, path: string, body: unknown): Promise<any> {
  const r = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = await r.json();
  if (r.status >= 300) throw new Error(`${method} ${path} → ${r.status} ${JSON.stringify(json)}`);
  return json;
}

const SCENARIO = process.env.BENCH_SCENARIO ?? 'storm';

/** Issue 15's storm at scale (figures: bench/README.md "Refresh"). Access tokens live 2–4 min so 2 cores keep up. */
async function storm(): Promise<void> {
  process.env.TEST_DATABASE_URL ??= 'postgres://postgres@127.0.0.1:5432/postgres';
  const started = Date.now();
  const stormMs = Number(process.env.BENCH_STORM_SECONDS ?? 180) * 1000;
  const figures = await runStorm({
    perIntegration: Math.floor(CREDENTIALS / 2),
    stormMs,
    ttl: () => 120 + Math.floor(Math.random() * 121),
    meanTtlSeconds: 180,
    firstExpiry: () => 3 + Math.floor(Math.random() * 238),
    releaseWaitMs: 2000,
    clients: LOAD_CONCURRENCY,
    thinkMs: 20,
    worker: {
      OUTBOUND_TIMEOUT_MS: '4000',
      REFRESH_LEASE_SECONDS: '7',
      REFRESH_CONCURRENCY: process.env.REFRESH_CONCURRENCY ?? '8',
      REFRESH_BATCH_SIZE: process.env.REFRESH_BATCH_SIZE ?? '50',
      REFRESH_POLL_INTERVAL_MS: '200',
      KEY_ROTATION_KV_RPS: '50',
      KEY_JOB_LEASE_SECONDS: '3',
    },
    // The release limiter (SECURITY 29) would answer most of a closed-loop load with 429s: not what is measured here.
    vaultEnv: { RATE_LIMIT_RELEASE_PER_IP: '1000000', RATE_LIMIT_RELEASE_PER_AGENT: '1000000' },
    progress: log,
  });
  const summary = {
    scenario: 'storm',
    connections: CREDENTIALS,
    machine_at_start: machine(),
    total_seconds: secs(Date.now() - started),
    ...figures,
  };
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  process.exit(0);
}

(SCENARIO === 'storm' ? storm() : main()).catch((err) => {
  process.stderr.write(`bench failed: ${err?.stack ?? err}\n`);
  process.exit(1);
});
