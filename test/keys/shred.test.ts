import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keyring, KeyUnwrapError } from '../../libs/crypto';
import { KeyJobRunner } from '../../libs/keys';
import { asTenantId } from '../../libs/kernel';
import { startSecondVault, startTestVault, TestVault } from '../support/vault';
import { release, seedTenant, waitFor } from './support';

/**
 * Crypto-shredding (issue 5): deleting a user's or a tenant's data destroys the keys that
 * could read it, so a copy of their rows (a backup) no longer decrypts. Audited `key.shred`.
 */
describe('crypto-shredding', () => {
  let v: TestVault;
  let kekFile: string;

  beforeAll(async () => {
    kekFile = join(mkdtempSync(join(tmpdir(), 'kek-')), 'kek.json');
    v = await startTestVault({ LOCAL_KEK_FILE: kekFile, KEY_ROTATION_RETIRE_DELAY_MS: '0', KEY_CACHE_SYNC_SECONDS: '1' });
    await seedTenant(v, 'shr', ['alice', 'bob', 'carol']);
    await seedTenant(v, 'gone', ['dave', 'erin']);
  });
  afterAll(() => v?.close());

  const backupOf = async (tenant: string, user: string) =>
    (
      await v.db.ds.query(
        `SELECT id, subject, integration, tk_version, dek_wrapped, api_key_ct FROM vault.connections WHERE tenant = $1 AND subject = $2`,
        [tenant, user],
      )
    )[0];
  const opens = (
    b: { id: string; subject: string; integration: string; dek_wrapped: Buffer; api_key_ct: Buffer },
    tenant: string,
    keyring = v.vault.app.get(Keyring),
  ) =>
    keyring
      .open(
        { tenant: asTenantId(tenant), table: 'connections', id: b.id, bind: { subject: b.subject, integration: b.integration } },
        b.dek_wrapped,
        'api_key',
        b.api_key_ct,
      )
      .then((k) => k.toString());

  /** A CIBA request, a remembered consent and a refresh-token family of the authorization server, for one person. */
  const rememberOf = async (tenant: string, subject: string) => {
    await v.db.ds.query(
      `INSERT INTO vault.approvals (id, tenant, auth_req_hash, agent, subject, claims, scopes, ttl_seconds, interval_seconds, expires_at)
       VALUES (gen_random_uuid(), $1, gen_random_uuid()::text::bytea, 'agent-1', $2, '{}', '{connections:openai}', 60, 5,
               now() + interval '5 minutes')`,
      [tenant, subject],
    );
    await v.db.ds.query(
      `INSERT INTO vault.oauth_consents (tenant, subject, client_id, resource, client_name, scopes)
       VALUES ($1, $2, 'mcp-client', 'https://crm.example.test', 'MCP client', '{crm:read}')`,
      [tenant, subject],
    );
    await v.db.ds.query(
      `INSERT INTO vault.oauth_refresh_tokens (token_hash, family, tenant, client_id, subject, roles, resource, scopes, expires_at)
       VALUES (gen_random_uuid()::text::bytea, gen_random_uuid(), $1, 'mcp-client', $2, '{}', 'https://crm.example.test', '{crm:read}',
               now() + interval '1 day')`,
      [tenant, subject],
    );
  };
  const remembered = async (tenant: string) => {
    const out: Record<string, string[]> = {};
    for (const table of ['approvals', 'oauth_consents', 'oauth_refresh_tokens'])
      out[table] = (await v.db.ds.query(`SELECT subject FROM vault.${table} WHERE tenant = $1 ORDER BY subject`, [tenant])).map(
        (r: { subject: string }) => r.subject,
      );
    return out;
  };

  it(
    'a user: their connections go, and a tenant-key rotation destroys the key that wrapped them; ' + 'a backup copy no longer decrypts',
    async () => {
      const backup = await backupOf('shr', 'alice');
      expect(await opens(backup, 'shr')).toBe('key-shr-alice');
      // alice and bob are signed in to /account.
      for (const [subject, id] of [
        ['alice', 'a1'],
        ['bob', 'b1'],
      ])
        await v.db.ds.query(
          `INSERT INTO vault.user_sessions (id_hash, tenant, subject, email, expires_at)
           VALUES ($1, 'shr', $2, $3, now() + interval '1 hour')`,
          [Buffer.from(id), subject, `${subject}@example.test`],
        );
      await rememberOf('shr', 'alice');
      await rememberOf('shr', 'bob');
      const r = await v.call('DELETE', '/v1/admin/users/alice', { token: v.issuer.adminToken('shr') });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({
        user: 'alice',
        connections_destroyed: 1,
        tenant_key_rotation: { kind: 'tenant_rotate', tenant: 'shr' },
      });
      expect((await release(v, 'shr', 'alice')).status).toBe(404);
      // Her sessions (and the e-mail kept with them) are gone; bob's are not.
      expect(await v.db.ds.query(`SELECT subject FROM vault.user_sessions WHERE tenant = 'shr' ORDER BY subject`)).toEqual([
        { subject: 'bob' },
      ]);
      // Her approval requests, remembered consents and refresh-token families are gone too; bob's stay.
      expect(await remembered('shr')).toEqual({ approvals: ['bob'], oauth_consents: ['bob'], oauth_refresh_tokens: ['bob'] });

      expect(await v.vault.app.get(KeyJobRunner).runOnce(r.body.tenant_key_rotation.id)).toMatchObject({ status: 'succeeded' });
      await expect(opens(backup, 'shr')).rejects.toBeInstanceOf(KeyUnwrapError);
      // Putting the backup row back is refused outright: it names a destroyed tenant-key version.
      await expect(
        v.db.ds.query(
          `INSERT INTO vault.connections (id, tenant, integration, subject, kind, tk_version, dek_wrapped, ` +
            `api_key_ct) VALUES ($1, 'shr', 'openai', 'alice', 'api_key', $2, $3, $4)`,
          [backup.id, backup.tk_version, backup.dek_wrapped, backup.api_key_ct],
        ),
      ).rejects.toMatchObject({ code: 'VK001' });
      expect((await release(v, 'shr', 'bob')).body.api_key).toBe('key-shr-bob');

      const [event] = await v.db.ds.query(
        `SELECT outcome, subject, details FROM vault.audit_events WHERE tenant = 'shr' AND action = 'key.shred'`,
      );
      expect(event).toMatchObject({
        outcome: 'allowed',
        subject: 'alice',
        details: { scope: 'user', connections: 1, connection_ids: [backup.id], job: r.body.tenant_key_rotation.id, by: 'admin@shr' },
      });
      // A user with nothing stored: nothing to rotate.
      const none = await v.call('DELETE', '/v1/admin/users/nobody', { token: v.issuer.adminToken('shr') });
      expect(none.body).toEqual({ user: 'nobody', connections_destroyed: 0, tenant_key_rotation: null });
    },
  );

  it(
    'a tenant: every tenant key destroyed and every row deleted in one step; other processes drop their cached keys; ' +
      'the tenant can start afresh',
    async () => {
      const backup = await backupOf('gone', 'dave');
      // Another API process that has the tenant's key cached.
      const other = await startSecondVault(v, { LOCAL_KEK_FILE: kekFile, KEY_CACHE_SYNC_SECONDS: '1' });
      try {
        expect((await release(v, 'gone', 'dave', other.url)).status).toBe(200);
        const admin = v.issuer.adminToken('gone');
        expect((await v.call('PUT', '/v1/admin/tenant', { token: admin, body: { display_name: 'Gone Inc' } })).status).toBe(201);
        await v.db.ds.query(
          `INSERT INTO vault.user_sessions (id_hash, tenant, subject, expires_at)
           VALUES ('\\x01', 'gone', 'dave', now() + interval '1 hour')`,
        );
        await rememberOf('gone', 'dave');
        await v.db.ds.query(`INSERT INTO vault.user_agent_denies (tenant, subject, integration, agent) VALUES ('gone', 'dave', 'x', 'y')`);
        expect((await v.call('DELETE', '/v1/admin/tenant', { token: admin })).status).toBe(400);
        expect((await v.call('DELETE', '/v1/admin/tenant?confirm=shr', { token: admin })).status).toBe(400);
        const r = await v.call('DELETE', '/v1/admin/tenant?confirm=gone', { token: admin });
        expect(r.status).toBe(200);
        expect(r.body).toEqual({
          tenant: 'gone',
          tenant_keys_destroyed: [1],
          connections_destroyed: 2,
          integrations_destroyed: 1,
          agents_deleted: 1,
          policies_deleted: 1,
        });

        const keys = await v.db.ds.query(`SELECT status, octet_length(wrapped) AS len FROM vault.tenant_keys WHERE tenant = 'gone'`);
        expect(keys).toEqual([{ status: 'destroyed', len: 0 }]);
        expect((await v.call('GET', '/v1/admin/tenant', { token: admin })).body.display_name).toBeNull();
        expect(await remembered('gone')).toEqual({ approvals: [], oauth_consents: [], oauth_refresh_tokens: [] });
        for (const table of ['connections', 'integrations', 'agents', 'policies', 'user_sessions', 'user_agent_denies', 'user_logins']) {
          expect((await v.db.ds.query(`SELECT count(*)::int AS n FROM vault.${table} WHERE tenant = 'gone'`))[0].n).toBe(0);
        }
        await expect(opens(backup, 'gone')).rejects.toBeInstanceOf(KeyUnwrapError);
        // The other process forgets the destroyed key within its cache-sync interval.
        await waitFor(
          'the other process to drop the key',
          () =>
            opens(backup, 'gone', other.app.get(Keyring)).then(
              () => false,
              (e) => e instanceof KeyUnwrapError,
            ),
          10_000,
          200,
        );
        const [event] = await v.db.ds.query(
          `SELECT outcome, details FROM vault.audit_events WHERE tenant = 'gone' AND action = 'key.shred'`,
        );
        expect(event).toMatchObject({ outcome: 'allowed', details: { scope: 'tenant', tenant_keys: [1], connections: 2 } });
      } finally {
        await other.close();
      }
      // Another tenant is untouched; the shredded one starts again under a new tenant key.
      expect((await release(v, 'shr', 'carol')).body.api_key).toBe('key-shr-carol');
      await seedTenant(v, 'gone', ['dave']);
      expect((await release(v, 'gone', 'dave')).body.api_key).toBe('key-gone-dave');
      expect(await v.db.ds.query(`SELECT version, status FROM vault.tenant_keys WHERE tenant = 'gone' ORDER BY version`)).toEqual([
        { version: 1, status: 'destroyed' },
        { version: 2, status: 'active' },
      ]);
    },
  );
});
