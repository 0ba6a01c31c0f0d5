import { Keyring } from '../../libs/crypto';
import { KeyScheduler } from '../../libs/keys';
import { asTenantId } from '../../libs/kernel';
import { startTestVault, TestVault } from '../support/vault';
import { putKey, release, seedTenant } from './support';

/**
 * Stored API-key rotation (issue 5): a new value becomes current at once (agents only ever
 * receive the current one); the previous value stays stored, sealed and decryptable, for the
 * grace period (visible as `previous_expires_at`), and the worker's housekeeping destroys it after.
 */
describe('stored API-key rotation', () => {
  let v: TestVault;
  const T = 'apik';
  const admin = () => v.issuer.adminToken(T);
  const row = async (user: string) =>
    (
      await v.db.ds.query(
        `SELECT id, dek_wrapped, api_key_ct, previous_api_key_ct, previous_expires_at, version::int ` +
          `FROM vault.connections WHERE tenant = $1 AND subject = $2`,
        [T, user],
      )
    )[0];
  const listed = async (user: string) =>
    (await v.call('GET', `/v1/admin/connections?user=${user}`, { token: admin() })).body.connections[0];

  beforeAll(async () => {
    v = await startTestVault({ API_KEY_ROTATION_GRACE_SECONDS: '3600' });
    await seedTenant(v, T, ['alice', 'bob']);
  });
  afterAll(() => v?.close());

  it('the new key is current at once; the previous one stays sealed and decryptable until previous_expires_at', async () => {
    expect((await listed('alice')).previous_expires_at).toBeNull();
    const put = await putKey(v, T, 'alice', 'sk-new-alice');
    expect(put.status).toBe(200);
    const expires = new Date(put.body.previous_expires_at).getTime();
    expect(expires).toBeGreaterThan(Date.now() + 3500_000);
    expect(expires).toBeLessThan(Date.now() + 3700_000);
    expect((await listed('alice')).previous_expires_at).toBe(put.body.previous_expires_at);
    expect(JSON.stringify(await listed('alice'))).not.toContain('key-apik-alice');

    // Agents always get the current key.
    for (let i = 0; i < 5; i++) expect((await release(v, T, 'alice')).body.api_key).toBe('sk-new-alice');
    // The previous value is kept under the record's (new) DEK, bound to its own field.
    const r = await row('alice');
    const ref = { tenant: asTenantId(T), table: 'connections', id: r.id, bind: { subject: 'alice', integration: 'openai' } };
    const keyring = v.vault.app.get(Keyring);
    expect((await keyring.open(ref, r.dek_wrapped, 'previous_api_key', r.previous_api_key_ct)).toString()).toBe('key-apik-alice');
    await expect(keyring.open(ref, r.dek_wrapped, 'api_key', r.previous_api_key_ct)).rejects.toThrow('key unwrap failed');

    const [event] = await v.db.ds.query(
      `SELECT action, outcome, subject, integration, details FROM vault.audit_events ` +
        `WHERE tenant = $1 AND action = 'key.rotate' ORDER BY seq DESC LIMIT 1`,
      [T],
    );
    expect(event).toMatchObject({
      outcome: 'allowed',
      subject: 'alice',
      integration: 'openai',
      details: { target: 'api_key', connection: r.id, from_version: 1, by: `admin@${T}` },
    });
    expect(JSON.stringify(event)).not.toContain('sk-new-alice');

    // Rotating again within the grace period: the newest previous is kept, the older one dropped.
    await putKey(v, T, 'alice', 'sk-newer-alice');
    const again = await row('alice');
    expect((await keyring.open({ ...ref }, again.dek_wrapped, 'previous_api_key', again.previous_api_key_ct)).toString()).toBe(
      'sk-new-alice',
    );
    expect((await release(v, T, 'alice')).body.api_key).toBe('sk-newer-alice');
  });

  it(
    'after the grace period the housekeeping job destroys the previous key (audited key.destroy); the current one is ' + 'untouched',
    async () => {
      await putKey(v, T, 'bob', 'sk-new-bob');
      await v.db.ds.query(
        `UPDATE vault.connections SET previous_expires_at = now() - interval '1 second' WHERE tenant = $1 AND subject = 'bob'`,
        [T],
      );
      const { previousKeysDestroyed } = await v.vault.app.get(KeyScheduler).tick();
      expect(previousKeysDestroyed).toBe(1);
      const bob = await row('bob');
      expect(bob.previous_api_key_ct).toBeNull();
      expect(bob.previous_expires_at).toBeNull();
      expect((await listed('bob')).previous_expires_at).toBeNull();
      expect((await row('alice')).previous_api_key_ct).not.toBeNull(); // still in its grace period
      expect((await release(v, T, 'bob')).body.api_key).toBe('sk-new-bob');
      const [event] = await v.db.ds.query(
        `SELECT outcome, subject, details FROM vault.audit_events WHERE tenant = $1 AND action = 'key.destroy'`,
        [T],
      );
      expect(event).toMatchObject({
        outcome: 'allowed',
        subject: 'bob',
        details: { target: 'api_key_previous', connection: bob.id, reason: 'grace_period_over' },
      });
    },
  );

  it('a zero grace period keeps nothing', async () => {
    const other = await startTestVault({ API_KEY_ROTATION_GRACE_SECONDS: '0' });
    try {
      await seedTenant(other, T, ['carol']);
      const put = await putKey(other, T, 'carol', 'sk-2');
      expect(put.body.previous_expires_at).toBeNull();
      const [r] = await other.db.ds.query(`SELECT previous_api_key_ct FROM vault.connections WHERE subject = 'carol'`);
      expect(r.previous_api_key_ct).toBeNull();
    } finally {
      await other.close();
    }
  });

  it('with the audit log refusing writes, an admin API-key write answers 503 and stores nothing (fail closed)', async () => {
    const before = await row('alice');
    await v.db.ds.query(
      `CREATE FUNCTION vault.refuse_audit_put() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$`,
    );
    await v.db.ds.query(
      'CREATE TRIGGER refuse_audit_put BEFORE INSERT ON vault.audit_events FOR EACH ROW EXECUTE FUNCTION vault.refuse_audit_put()',
    );
    try {
      const rotate = await putKey(v, T, 'alice', 'sk-unaudited-alice');
      expect(rotate.status).toBe(503);
      const create = await putKey(v, T, 'carol', 'sk-unaudited-carol');
      expect(create.status).toBe(503);
    } finally {
      await v.db.ds.query('DROP TRIGGER refuse_audit_put ON vault.audit_events');
      await v.db.ds.query('DROP FUNCTION vault.refuse_audit_put()');
    }
    const after = await row('alice');
    expect(after.version).toBe(before.version);
    expect(after.api_key_ct.equals(before.api_key_ct)).toBe(true);
    expect(await row('carol')).toBeUndefined();
    expect((await release(v, T, 'alice')).body.api_key).not.toBe('sk-unaudited-alice');

    // Audited again once the log takes writes: a new connection is recorded as connected by the admin.
    expect((await putKey(v, T, 'carol', 'sk-carol')).status).toBe(201);
    const [event] = await v.db.ds.query(
      `SELECT action, outcome, subject, details FROM vault.audit_events WHERE tenant = $1 AND subject = 'carol' ORDER BY seq DESC LIMIT 1`,
      [T],
    );
    expect(event).toMatchObject({
      action: 'connection.connect',
      outcome: 'allowed',
      details: { method: 'admin_api_key', by: `admin@${T}` },
    });
  });
});
