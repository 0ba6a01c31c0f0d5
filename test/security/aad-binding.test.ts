import fc from 'fast-check';
import { randomBytes, randomUUID } from 'node:crypto';
import { AuditLog } from '../../libs/audit';
import { sessionRef } from '../../libs/connect';
import { connectionRef, ConnectionStore, DerivedTokenStore, OAuthAppCredentialReader, OAuthCredentialStore } from '../../libs/connections';
import { KeyUnwrapError, SEALED_LAYOUT, SealedFields } from '../../libs/crypto';
import { asTenantId, Secret } from '../../libs/kernel';
// The store itself (not exported by the lib): this test reads each sealed field through its own store.
import { WebhookEndpointStore } from '../../libs/webhooks/webhook-endpoint.store';
import { LogCapture } from '../support/log-capture';
import { startTestVault, TestVault } from '../support/vault';

/**
 * SECURITY 20 / DESIGN invariant 3 (issue 14, class 2), as a property over every sealed table and
 * column: a database writer relabels a row in place (its owner columns, its tenant), copies
 * ciphertext and wrapped DEK from another row (same or other tenant), swaps two fields of a row, or
 * sets a ciphertext to NULL. Each time, the vault's own read path for that field fails with the one
 * generic error, an `ALERT decrypt_failed` line is logged and a `decrypt_failed` audit record names
 * the record. Restored, the row reads again (so a failure is the mutation's, not the fixture's).
 */
type Table = keyof typeof SEALED_LAYOUT;
type Row = Record<string, any>;

describe('SECURITY 20: sealed fields are bound to their row (property over every sealed table and column)', () => {
  let v: TestVault;
  const logs = new LogCapture();
  const T = 'aadp';
  const OTHER = 'aadq';
  const admin = (t = T) => v.issuer.adminToken(t);

  async function seed(tenant: string) {
    const put = (path: string, body: unknown) =>
      v.call('PUT', path, { token: admin(tenant), body }).then((r) => expect(r.status).toBeLessThan(300));
    await put('/v1/admin/integrations/openai', { provider: 'api_key' });
    await put('/v1/admin/integrations/calendar', {
      provider: 'google',
      client_id: 'cal-client',
      client_secret: `cs-${tenant}`,
      scopes: ['calendar.readonly'],
    });
    await put('/v1/admin/integrations/drive', {
      provider: 'google',
      client_id: 'drive-client',
      client_secret: `ds-${tenant}`,
      scopes: ['drive.readonly'],
    });
    for (const u of ['alice', 'bob']) {
      await put(`/v1/admin/connections/openai/users/${u}`, { api_key: `old-${tenant}-${u}` });
      await put(`/v1/admin/connections/openai/users/${u}`, { api_key: `key-${tenant}-${u}` }); // the first value stays as previous_api_key
      const conn = await v.vault.app.get(OAuthCredentialStore).put(asTenantId(tenant), 'calendar', u, {
        accessToken: Secret.of(`at-${tenant}-${u}`),
        refreshToken: Secret.of(`rt-${tenant}-${u}`),
        expiresAt: new Date(Date.now() + 3600_000),
        refreshTokenExpiresAt: null,
        scopes: ['calendar.readonly', 'calendar.events'],
        metadata: {},
      });
      // A downscoped token cached for the connection (a narrower scope set).
      const [{ refresh_token_ct: source }] = await v.db.ds.query(`SELECT refresh_token_ct FROM vault.connections WHERE id = $1`, [conn.id]);
      await v.vault.app.get(DerivedTokenStore).put(asTenantId(tenant), conn.id, 'calendar.readonly', source, {
        accessToken: Secret.of(`dt-${tenant}-${u}`),
        scopes: ['calendar.readonly'],
        expiresAt: new Date(Date.now() + 3600_000),
      });
      // A connect session under way holds its PKCE verifier sealed (bound to its subject and integration).
      const id = randomUUID();
      await v.vault.app
        .get(SealedFields)
        .write(
          sessionRef({ tenant: asTenantId(tenant), id, subject: u, integration: 'calendar' }),
          { code_verifier: Buffer.from(`pkce-${tenant}-${u}`) },
          (s) =>
            v.db.ds.query(
              `INSERT INTO vault.connect_sessions (id, tenant, integration, subject, created_by, url_hash, state_hash, status, tk_version,
             dek_wrapped, code_verifier_ct, expires_at)
           VALUES ($1, $2, 'calendar', $3, 'test', $4, $5, 'authorizing', $6, $7, $8, now() + interval '1 hour')`,
              [id, tenant, u, randomBytes(32), randomBytes(32), s.tkVersion, s.dekWrapped, s.fields.code_verifier],
            ),
        );
    }
    await put('/v1/admin/webhooks', { url: `http://127.0.0.1:9/${tenant}`, events: ['*'] });
  }

  /** The vault's own read path of each sealed field, given the row as it is now. */
  const readers: Record<string, (r: Row) => Promise<unknown>> = {
    'connections.api_key': async (r) => {
      const c = await v.vault.app.get(ConnectionStore).findForRelease(r.tenant, r.integration, r.subject);
      return v.vault.app.get(ConnectionStore).open(c!, 'api_key', { action: 'credential.release' });
    },
    'connections.access_token': async (r) =>
      (await v.vault.app.get(OAuthCredentialStore).openTokens((await v.vault.app.get(OAuthCredentialStore).load(r.tenant, r.id))!)).access,
    'connections.refresh_token': async (r) => {
      const t = await v.vault.app.get(OAuthCredentialStore).openTokens((await v.vault.app.get(OAuthCredentialStore).load(r.tenant, r.id))!);
      if (!t.refresh) throw new Error('refresh token missing, not refused');
      return t.refresh;
    },
    'connections.previous_api_key': (r) =>
      v.vault.app
        .get(SealedFields)
        .open(
          connectionRef(r.tenant, r.id, r.integration, r.subject),
          { dekWrapped: r.dek_wrapped, ct: r.previous_api_key_ct },
          'previous_api_key',
          { audit: auditLog(), action: 'test.read' },
        ),
    'integrations.client_secret': async (r) => (await v.vault.app.get(OAuthAppCredentialReader).read(r.tenant, r.name))!.clientSecret,
    'connect_sessions.code_verifier': (r) =>
      v.vault.app.get(SealedFields).open(sessionRef(r as never), { dekWrapped: r.dek_wrapped, ct: r.code_verifier_ct }, 'code_verifier', {
        audit: auditLog(),
        action: 'connection.connect',
      }),
    'webhook_endpoints.secret': (r) => v.vault.app.get(WebhookEndpointStore).target(r.tenant),
    // The row as the store's `find` joins it (with its connection's owner columns as they are now).
    'derived_tokens.access_token': async (r) => {
      const [j] = await v.db.ds.query(`SELECT c.subject, c.integration FROM vault.connections c WHERE c.id = $1`, [r.connection_id]);
      const row = {
        id: r.id,
        connectionId: r.connection_id,
        scopeKey: r.scope_key,
        subject: j.subject,
        integration: j.integration,
        scopes: r.scopes,
        expiresAt: r.expires_at,
        dekWrapped: r.dek_wrapped,
        accessTokenCt: r.access_token_ct,
      };
      return v.vault.app.get(DerivedTokenStore).open(r.tenant, row);
    },
  };
  const auditLog = () => v.vault.app.get(AuditLog);

  /**
   * Every (table, field), the row it is tested on, and whether NULL is a state the field can be in
   * for that row kind at all: a refresh token may legitimately be absent (some grants have none), a
   * previous API key is absent outside its grace period, and the schema forbids a NULL webhook secret.
   */
  const targets: Array<{ table: Table; field: string; where: string; nullable: boolean; donorInTenant: boolean }> = [
    { table: 'connections', field: 'api_key', where: `integration = 'openai' AND subject = 'alice'`, nullable: true, donorInTenant: true },
    {
      table: 'connections',
      field: 'previous_api_key',
      where: `integration = 'openai' AND subject = 'alice'`,
      nullable: false,
      donorInTenant: true,
    },
    {
      table: 'connections',
      field: 'access_token',
      where: `integration = 'calendar' AND subject = 'alice'`,
      nullable: true,
      donorInTenant: true,
    },
    {
      table: 'connections',
      field: 'refresh_token',
      where: `integration = 'calendar' AND subject = 'alice'`,
      nullable: false,
      donorInTenant: true,
    },
    { table: 'integrations', field: 'client_secret', where: `name = 'drive'`, nullable: true, donorInTenant: true },
    { table: 'connect_sessions', field: 'code_verifier', where: `subject = 'alice'`, nullable: true, donorInTenant: true },
    // One endpoint per tenant: the only donor is another tenant's.
    { table: 'webhook_endpoints', field: 'secret', where: `true`, nullable: false, donorInTenant: false },
    {
      table: 'derived_tokens',
      field: 'access_token',
      nullable: false,
      donorInTenant: true,
      where:
        `connection_id = (SELECT id FROM vault.connections c WHERE c.tenant = derived_tokens.tenant AND ` +
        `c.integration = 'calendar' AND c.subject = 'alice')`,
    },
  ];
  const columnOf = (table: Table, field: string) => (SEALED_LAYOUT[table].fields as Record<string, string>)[field];
  const rowOf = async (table: Table, tenant: string, where: string): Promise<Row> =>
    (await v.db.ds.query(`SELECT * FROM vault.${table} WHERE tenant = $1 AND ${where}`, [tenant]))[0];
  const rowById = async (table: Table, id: string): Promise<Row> =>
    (await v.db.ds.query(`SELECT * FROM vault.${table} WHERE id = $1`, [id]))[0];

  /** Writes `patch` onto the row (by id); returns an undo. */
  async function patch(table: Table, id: string, values: Row): Promise<() => Promise<void>> {
    const before = await rowById(table, id);
    const cols = Object.keys(values);
    const apply = (vals: Row) =>
      v.db.ds.query(`UPDATE vault.${table} SET ${cols.map((c, i) => `${c} = $${i + 2}`).join(', ')} WHERE id = $1`, [
        id,
        ...cols.map((c) => vals[c]),
      ]);
    await apply(values);
    return async () => void (await apply(before));
  }

  /** Relabels: each identifying column to another valid value (foreign keys allow it), and the tenant. */
  const relabels = (table: Table): Array<[string, unknown]> => {
    const byColumn: Record<string, unknown[]> = {
      subject: ['mallory', 'bob2', 'ALICE'],
      integration: ['drive'],
      name: ['drive2'],
      url: ['http://127.0.0.1:9/evil'],
      connection_id: ['bob'],
      scope_key: ['calendar.readonly calendar.events'],
    };
    const out: Array<[string, unknown]> = [];
    for (const c of SEALED_LAYOUT[table].bind) for (const value of byColumn[c]) out.push([c, value]);
    out.push(['tenant', OTHER]);
    return out;
  };

  type Mutation =
    | { kind: 'relabel'; column: string; value: unknown }
    | { kind: 'copy'; from: 'same_tenant' | 'other_tenant' }
    | { kind: 'swap' }
    | { kind: 'null' };
  const mutationsFor = (t: (typeof targets)[number]): fc.Arbitrary<Mutation> => {
    const donors = t.donorInTenant ? (['same_tenant', 'other_tenant'] as const) : (['other_tenant'] as const);
    const options: Array<fc.Arbitrary<Mutation>> = [
      fc.constantFrom(...relabels(t.table)).map(([column, value]) => ({ kind: 'relabel' as const, column, value })),
      fc.constantFrom(...donors).map((from) => ({ kind: 'copy' as const, from })),
    ];
    if (t.nullable) options.push(fc.constant({ kind: 'null' as const }));
    if (Object.keys(SEALED_LAYOUT[t.table].fields).length > 1) options.push(fc.constant({ kind: 'swap' as const }));
    return fc.oneof(...options);
  };

  /** Applies a mutation to the target row; returns the row as it now is, and the undo. */
  async function mutate(t: (typeof targets)[number], m: Mutation): Promise<{ row: Row; undo: () => Promise<void> }> {
    const victim = await rowOf(t.table, T, t.where);
    const col = columnOf(t.table, t.field);
    // Rows a relabel would collide with (unique owner columns, one endpoint per tenant) move aside first.
    const aside: Array<() => Promise<void>> = [];
    let values: Row;
    if (m.kind === 'relabel' && t.table === 'derived_tokens' && (m.column === 'subject' || m.column === 'integration')) {
      // The owner columns of a derived token are its connection's: that row is relabelled.
      aside.push(await patch('connections', victim.connection_id, { [m.column]: m.value }));
      values = {};
    } else if (m.kind === 'relabel' && m.column === 'connection_id') {
      // Moved onto bob's connection of the same integration.
      values = { connection_id: (await rowOf('connections', T, `integration = 'calendar' AND subject = 'bob'`)).id };
      const [bobs] = await v.db.ds.query(`SELECT id FROM vault.derived_tokens WHERE connection_id = $1`, [values.connection_id]);
      aside.push(await patch('derived_tokens', bobs.id, { scope_key: 'aside' }));
    } else if (m.kind === 'relabel') {
      values = { [m.column]: m.value };
      if (m.column === 'tenant' && t.table !== 'derived_tokens') {
        const clash = await rowOf(t.table, OTHER, t.table === 'webhook_endpoints' ? 'true' : t.where);
        if (clash)
          aside.push(
            await patch(
              t.table,
              clash.id,
              t.table === 'webhook_endpoints'
                ? { tenant: 'aadr' }
                : t.table === 'integrations'
                  ? { name: 'drive-aside' }
                  : { subject: 'aside' },
            ),
          );
      }
    } else if (m.kind === 'copy') {
      // Another row of the same table holding the same field, in this tenant or the other one.
      const donor: Row = (
        await v.db.ds.query(`SELECT * FROM vault.${t.table} WHERE tenant = $1 AND id <> $2 AND ${col} IS NOT NULL LIMIT 1`, [
          m.from === 'same_tenant' ? T : OTHER,
          victim.id,
        ])
      )[0];
      values = { dek_wrapped: donor.dek_wrapped, [col]: donor[col], tk_version: donor.tk_version };
    } else if (m.kind === 'swap') {
      const other = Object.values(SEALED_LAYOUT[t.table].fields as Record<string, string>).find((c) => c !== col && victim[c] !== null)!;
      values = { [col]: victim[other] };
    } else {
      values = { [col]: null };
    }
    const undo = Object.keys(values).length ? await patch(t.table, victim.id, values) : async () => undefined;
    return {
      row: await rowById(t.table, victim.id),
      undo: async () => {
        await undo();
        for (const a of aside.reverse()) await a();
      },
    };
  }

  beforeAll(async () => {
    v = await startTestVault({ OUTBOUND_ALLOW_HOSTS: '127.0.0.1', WEBHOOKS_IN_PROCESS: 'false' }, { logger: logs });
    await v.db.ds.query(`INSERT INTO vault.tenants (id) VALUES ('aadr') ON CONFLICT DO NOTHING`);
    await seed(T);
    await seed(OTHER);
  });
  afterAll(() => v?.close());

  it.each(targets.map((t) => [`${t.table}.${t.field}`, t] as const))(
    '%s: every mutation is refused, generically, audited and alarmed',
    async (_name, t) => {
      const read = readers[`${t.table}.${t.field}`];
      // Untouched, the field reads.
      expect(await read(await rowOf(t.table, T, t.where))).toBeTruthy();
      await fc.assert(
        fc.asyncProperty(mutationsFor(t), async (m) => {
          const { row, undo } = await mutate(t, m);
          const mark = logs.lines.length;
          const [{ seq }] = await v.db.ds.query(`SELECT COALESCE(max(seq), 0) AS seq FROM vault.audit_events`);
          try {
            const err = await read(row).then(
              () => undefined,
              (e: unknown) => e,
            );
            expect(err).toBeInstanceOf(KeyUnwrapError);
            expect((err as Error).message).toBe('key unwrap failed');
            const alerts = logs.lines.slice(mark).filter((l) => l.includes('ALERT decrypt_failed') && l.includes(`record=${row.id}`));
            expect(alerts).toHaveLength(1);
            const audited = await v.db.ds.query(
              `SELECT tenant, details FROM vault.audit_events WHERE seq > $1 AND reason = 'decrypt_failed' AND outcome = ` +
                `'error' AND details->>'record' = $2 AND details->>'table' = $3`,
              [seq, row.id, t.table],
            );
            expect(audited).toHaveLength(1);
            expect(audited[0].tenant).toBe(row.tenant);
          } finally {
            await undo();
          }
        }),
        { numRuns: 12 },
      );
      // Restored, it reads again.
      expect(await read(await rowOf(t.table, T, t.where))).toBeTruthy();
    },
  );

  it(
    "the headline attack over HTTP: alice's row relabelled to bob → bob's agent gets an opaque 500, never alice's key; " +
      'audited with bob',
    async () => {
      const token = (user: string) => v.issuer.agentToken({ tenant: T, user, agent: 'mcp-1', integrations: ['openai'] });
      await v.call('PUT', '/v1/admin/agents/mcp-1', { token: admin(), body: { name: 'agent' } });
      await v.call('PUT', '/v1/admin/policies/p', {
        token: admin(),
        body: { agents: ['mcp-1'], integrations: ['openai'], effect: 'allow' },
      });
      expect((await v.call('POST', '/v1/connections/openai/token', { token: token('alice') })).body.api_key).toBe(`key-${T}-alice`);
      await v.db.ds.query(`DELETE FROM vault.connections WHERE tenant = $1 AND integration = 'openai' AND subject = 'bob'`, [T]);
      await v.db.ds.query(
        `UPDATE vault.connections SET subject = 'bob' WHERE tenant = $1 AND integration = 'openai' AND subject = 'alice'`,
        [T],
      );
      const mark = logs.lines.length;
      const res = await v.call('POST', '/v1/connections/openai/token', { token: token('bob') });
      expect(res.status).toBe(500);
      expect(res.body).toMatchObject({ code: 'internal_error' });
      expect(res.text).not.toContain(`key-${T}-alice`);
      expect(logs.lines.slice(mark).filter((l) => l.includes('ALERT decrypt_failed'))).toHaveLength(1);
      const [event] = await v.db.ds.query(
        `SELECT action, subject, integration, agent FROM vault.audit_events WHERE reason ` +
          `= 'decrypt_failed' AND action = 'credential.release' ORDER BY seq DESC LIMIT 1`,
      );
      expect(event).toEqual({ action: 'credential.release', subject: 'bob', integration: 'openai', agent: 'mcp-1' });
    },
  );
});
