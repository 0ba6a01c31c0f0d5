import { startTestVault, TestVault } from '../support/vault';
import { release, seedTenant } from './support';

const T = 'shr';
const OTHER = 'keep';

/**
 * What a tenant shred keeps, each with why. Every other table with a `tenant` column must hold no
 * row of the tenant afterwards. `stale` is a condition no kept row may meet.
 */
const TENANT_KEEPS: Record<string, { why: string; stale?: string }> = {
  audit_events: { why: 'the tamper-evident record: append-only, holds no secrets' },
  tenant_keys: {
    why: 'destroyed versions, zeroed, so the tenant never gets a version number again',
    stale: `status <> 'destroyed' OR octet_length(wrapped) > 0`,
  },
  key_jobs: { why: 'cancelled, kept as the record of what was run (no secrets)', stale: `status IN ('pending', 'running')` },
  token_revocations: { why: 'tokens revoked before stay refused should the tenant start afresh with the same names' },
  token_cutoffs: { why: 'the same, for every token of an agent or user up to a cutoff' },
  client_assertion_jtis: { why: 'replay cache of agent assertions, pruned once each expires' },
};

/** What a user shred keeps among the tables with (`tenant`, `subject`) columns. */
const USER_KEEPS: Record<string, string> = {
  audit_events: 'the tamper-evident record: append-only',
  user_agent_denies: 'each is a deny: deleting one would let that agent act for the person again',
};

/**
 * Crypto-shredding over the schema's catalog: the tables are read from information_schema at run
 * time, so a table added later without a seed here, or that a shred leaves behind, fails this test.
 */
describe('crypto-shredding: every table of the catalog', () => {
  let v: TestVault;
  const q = (sql: string, params: unknown[] = []) => v.db.ds.query(sql, params);
  const admin = (tenant: string) => v.issuer.adminToken(tenant);

  const tablesWith = async (...columns: string[]): Promise<string[]> =>
    (
      await q(
        `SELECT c.table_name AS t FROM information_schema.columns c
           JOIN information_schema.tables b ON b.table_schema = c.table_schema AND b.table_name = c.table_name
          WHERE c.table_schema = 'vault' AND b.table_type = 'BASE TABLE' AND c.column_name = ANY($1)
          GROUP BY c.table_name HAVING count(*) = $2 ORDER BY 1`,
        [columns, columns.length],
      )
    ).map((r: { t: string }) => r.t);

  /** Rows per table for the tenant (and subject), with an optional extra condition. */
  const counts = async (tables: string[], tenant: string, subject?: string, extra?: (t: string) => string | undefined) => {
    const out: Record<string, number> = {};
    for (const t of tables) {
      const cond = extra?.(t);
      const where = `tenant = $1${subject === undefined ? '' : ' AND subject = $2'}${cond ? ` AND (${cond})` : ''}`;
      out[t] = (
        await q(`SELECT count(*)::int AS n FROM vault.${t} WHERE ${where}`, subject === undefined ? [tenant] : [tenant, subject])
      )[0].n;
    }
    return out;
  };
  const ok = async (what: string, p: Promise<{ status: number; text: string }>) => {
    const r = await p;
    if (r.status >= 300) throw new Error(`${what}: ${r.status} ${r.text}`);
    return r;
  };

  /** A row in every table about the tenant, through the admin API where there is one. */
  async function seed(tenant: string, users: string[]) {
    const a = admin(tenant);
    await seedTenant(v, tenant, users); // integration, agent, policy, connections (tenant keys, audit events)
    for (const u of users) expect((await release(v, tenant, u)).status).toBe(200);
    await ok(
      'oauth integration',
      v.call('PUT', '/v1/admin/integrations/calendar', {
        token: a,
        body: {
          provider: 'custom-oauth2',
          client_id: 'cal-client',
          client_secret: 'cal-secret',
          authorize_url: 'https://login.calendar.example/auth',
          token_url: 'https://login.calendar.example/token',
          scopes: ['calendar.read'],
        },
      }),
    );
    for (const u of users)
      await ok('connect session', v.call('POST', '/v1/connect/sessions', { token: a, body: { user: u, integration: 'calendar' } }));
    await ok(
      'resource',
      v.call('PUT', '/v1/admin/resources/crm', {
        token: a,
        body: { identifier: `https://crm.${tenant}.example`, display_name: 'CRM', scopes: { 'crm:read': { roles_any: ['analyst'] } } },
      }),
    );
    await ok(
      'webhook endpoint',
      v.call('PUT', '/v1/admin/webhooks', { token: a, body: { url: 'http://127.0.0.1:9/hooks', events: ['*'] } }),
    );
    await ok('webhook event', v.call('POST', '/v1/admin/webhooks/test', { token: a }));
    await ok(
      'oauth client',
      v.call('POST', `/t/${tenant}/oauth2/register`, { body: { client_name: 'MCP', redirect_uris: ['https://app.example.com/cb'] } }),
    );
    await ok('agent cutoff', v.call('POST', '/v1/admin/agents/mcp-1/revoke-tokens', { token: a }));
    for (const u of users) await ok('user cutoff', v.call('POST', `/v1/admin/users/${u}/revoke-tokens`, { token: a }));
    await ok('key job', v.call('POST', '/v1/admin/keys/rotate', { token: a, body: { target: 'tenant' } }));
    await ok('tenant profile', v.call('PUT', '/v1/admin/tenant', { token: a, body: { display_name: `${tenant} Inc` } }));
    await ok(
      'user login',
      v.call('PUT', '/v1/admin/user-login', {
        token: a,
        body: { issuer: 'http://127.0.0.1:9', client_id: 'vault', client_secret: 'login-secret' },
      }),
    );

    // The rest is written by browser flows and token endpoints that need a provider or a signed-in person.
    await q(
      `INSERT INTO vault.user_login_flows (id_hash, tenant, state, nonce, return_to, expires_at)
       VALUES (gen_random_uuid()::text::bytea, $1, 's', 'n', '/account', now() + interval '5 minutes')`,
      [tenant],
    );
    await q(
      `INSERT INTO vault.token_revocations (tenant, jti, expires_at) VALUES ($1, gen_random_uuid()::text, now() + interval '1 hour')`,
      [tenant],
    );
    await q(
      `INSERT INTO vault.client_assertion_jtis (tenant, client_id, jti, expires_at)
       VALUES ($1, 'mcp-1', gen_random_uuid()::text, now() + interval '1 hour')`,
      [tenant],
    );
    for (const u of users) {
      await q(
        `INSERT INTO vault.derived_tokens (id, tenant, connection_id, scope_key, scopes, source_digest, tk_version, dek_wrapped, access_token_ct)
         SELECT gen_random_uuid(), tenant, id, 'a', '{a}', '\\x00', tk_version, '\\x00', '\\x00' FROM vault.connections
          WHERE tenant = $1 AND subject = $2 AND integration = 'openai'`,
        [tenant, u],
      );
      await q(
        `INSERT INTO vault.user_sessions (id_hash, tenant, subject, email, expires_at)
         VALUES (gen_random_uuid()::text::bytea, $1, $2, $3, now() + interval '1 hour')`,
        [tenant, u, `${u}@example.test`],
      );
      await q(`INSERT INTO vault.user_agent_denies (tenant, subject, integration, agent) VALUES ($1, $2, 'openai', 'mcp-1')`, [tenant, u]);
      await q(
        `INSERT INTO vault.approvals (id, tenant, auth_req_hash, agent, subject, claims, scopes, ttl_seconds, interval_seconds, expires_at)
         VALUES (gen_random_uuid(), $1, gen_random_uuid()::text::bytea, 'mcp-1', $2, '{}', '{connections:openai}', 60, 5,
                 now() + interval '5 minutes')`,
        [tenant, u],
      );
      await q(
        `INSERT INTO vault.oauth_authorization_requests
           (id_hash, tenant, session_id, subject, roles, client_id, redirect_uri, code_challenge, resource, scopes, expires_at)
         VALUES (gen_random_uuid()::text::bytea, $1, 's', $2, '{}', 'mcp-client', 'https://app.example.com/cb', 'c',
                 'https://crm.example.test', '{crm:read}', now() + interval '5 minutes')`,
        [tenant, u],
      );
      await q(
        `INSERT INTO vault.oauth_codes
           (code_hash, family, tenant, client_id, redirect_uri, code_challenge, subject, roles, resource, scopes, expires_at)
         VALUES (gen_random_uuid()::text::bytea, gen_random_uuid(), $1, 'mcp-client', 'https://app.example.com/cb', 'c', $2, '{}',
                 'https://crm.example.test', '{crm:read}', now() + interval '5 minutes')`,
        [tenant, u],
      );
      await q(
        `INSERT INTO vault.oauth_consents (tenant, subject, client_id, resource, client_name, scopes)
         VALUES ($1, $2, 'mcp-client', 'https://crm.example.test', 'MCP client', '{crm:read}')`,
        [tenant, u],
      );
      await q(
        `INSERT INTO vault.oauth_refresh_tokens (token_hash, family, tenant, client_id, subject, roles, resource, scopes, expires_at)
         VALUES (gen_random_uuid()::text::bytea, gen_random_uuid(), $1, 'mcp-client', $2, '{}', 'https://crm.example.test', '{crm:read}',
                 now() + interval '1 day')`,
        [tenant, u],
      );
    }
  }

  beforeAll(async () => {
    v = await startTestVault({ OUTBOUND_ALLOW_HOSTS: '127.0.0.1', OAUTH_DCR_TENANTS: `${T},${OTHER}` });
    await seed(T, ['alice', 'bob']);
    await seed(OTHER, ['alice']);
  }, 120_000);
  afterAll(() => v?.close());

  it('the seed reaches every table with a tenant column, and every one with (tenant, subject) for each person', async () => {
    const empty = (c: Record<string, number>) => Object.keys(c).filter((t) => c[t] === 0);
    const tenantTables = await tablesWith('tenant');
    const userTables = await tablesWith('tenant', 'subject');
    expect(userTables.length).toBeGreaterThan(0);
    // A table listed here has no seed: extend `seed` (and decide whether a shred deletes it).
    expect({ [T]: empty(await counts(tenantTables, T)), [OTHER]: empty(await counts(tenantTables, OTHER)) }).toEqual({
      [T]: [],
      [OTHER]: [],
    });
    expect({
      [`${T}/alice`]: empty(await counts(userTables, T, 'alice')),
      [`${T}/bob`]: empty(await counts(userTables, T, 'bob')),
      [`${OTHER}/alice`]: empty(await counts(userTables, OTHER, 'alice')),
    }).toEqual({ [`${T}/alice`]: [], [`${T}/bob`]: [], [`${OTHER}/alice`]: [] });
    // Every kept table is one the catalog has (a renamed or dropped table does not linger here).
    expect(Object.keys(TENANT_KEEPS).filter((t) => !tenantTables.includes(t))).toEqual([]);
    expect(Object.keys(USER_KEEPS).filter((t) => !userTables.includes(t))).toEqual([]);
  });

  it("a user: every table about them holds none of their rows but the kept ones; another person's, and the same name in another tenant, stay", async () => {
    const userTables = await tablesWith('tenant', 'subject');
    const bob = await counts(userTables, T, 'bob');
    const elsewhere = await counts(userTables, OTHER, 'alice');
    const derived = await counts(['derived_tokens'], T);

    const r = await v.call('DELETE', '/v1/admin/users/alice', { token: admin(T) });
    expect(r.status).toBe(200);

    const left = await counts(userTables, T, 'alice');
    const expected = Object.fromEntries(userTables.map((t) => [t, t in USER_KEEPS ? left[t] : 0]));
    expect(left).toEqual(expected);
    for (const t of Object.keys(USER_KEEPS)) expect(`${t}: ${left[t] > 0}`).toBe(`${t}: true`);
    expect(await counts(userTables, T, 'bob')).toEqual(bob);
    expect(await counts(userTables, OTHER, 'alice')).toEqual(elsewhere);
    // Her connection's derived tokens went with it (a cascade); bob's stays.
    expect(await counts(['derived_tokens'], T)).toEqual({ derived_tokens: derived.derived_tokens - 1 });
  });

  it("a tenant: every table holds none of its rows but the kept ones; another tenant's rows all stay", async () => {
    const tenantTables = await tablesWith('tenant');
    const other = await counts(tenantTables, OTHER);

    const r = await v.call('DELETE', `/v1/admin/tenant?confirm=${T}`, { token: admin(T) });
    expect(r.status).toBe(200);

    const left = await counts(tenantTables, T);
    const expected = Object.fromEntries(tenantTables.map((t) => [t, t in TENANT_KEEPS ? left[t] : 0]));
    expect(left).toEqual(expected);
    // What is kept is kept in the state that makes it harmless.
    const stale = await counts(Object.keys(TENANT_KEEPS), T, undefined, (t) => TENANT_KEEPS[t].stale ?? 'false');
    expect(Object.keys(stale).filter((t) => stale[t] > 0)).toEqual([]);
    expect((await q(`SELECT display_name, logo_url FROM vault.tenants WHERE id = $1`, [T]))[0]).toEqual({
      display_name: null,
      logo_url: null,
    });
    expect(await counts(tenantTables, OTHER)).toEqual(other);
    const [event] = await q(
      `SELECT details FROM vault.audit_events WHERE tenant = $1 AND action = 'key.shred' AND details->>'scope' = 'tenant'`,
      [T],
    );
    expect(event.details).toMatchObject({ connections: 1, integrations: 2, agents: 1, policies: 1, resources: 1, webhook_endpoints: 1 });
  });
});
