import { startTestVault, TestVault } from '../support/vault';
import { putEndpoint } from '../webhooks/support';
import { release, seedTenant } from './support';

/**
 * A user shred is one change: deleting the connections and scheduling the tenant-key rotation that
 * destroys the key which wrapped them commit together or not at all. Split, a failure between the
 * two left the rows deleted with the key alive (a backup copy still decrypted) and a retry found
 * nothing to shred, so it scheduled nothing.
 */
describe('user shred atomicity', () => {
  let v: TestVault;
  beforeAll(async () => {
    // Deliveries are not run here: the outbox shows which connection events a change wrote.
    v = await startTestVault({ OUTBOUND_ALLOW_HOSTS: '127.0.0.1', WEBHOOKS_IN_PROCESS: 'false' });
    await seedTenant(v, 'atm', ['alice', 'bob']);
    await putEndpoint(v, 'atm', 'http://127.0.0.1:9/hooks');
  });
  afterAll(() => v?.close());

  const admin = () => v.issuer.adminToken('atm');
  const events = async () =>
    (await v.db.ds.query(`SELECT event_type FROM vault.webhook_outbox WHERE tenant = 'atm' ORDER BY created_at`)).map(
      (r: { event_type: string }) => r.event_type,
    );
  const left = async () =>
    (await v.db.ds.query(`SELECT subject FROM vault.connections WHERE tenant = 'atm' ORDER BY subject`)).map(
      (r: { subject: string }) => r.subject,
    );

  it('the rotation cannot be scheduled: nothing is deleted; the retry shreds and schedules it', async () => {
    await v.db.ds.query(
      `CREATE FUNCTION vault.refuse_key_job() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'key job refused'; END $$`,
    );
    await v.db.ds.query(
      'CREATE TRIGGER refuse_key_job BEFORE INSERT ON vault.key_jobs FOR EACH ROW EXECUTE FUNCTION vault.refuse_key_job()',
    );
    try {
      const failed = await v.call('DELETE', '/v1/admin/users/alice', { token: admin() });
      expect(failed.status).toBeGreaterThanOrEqual(500);
      expect(failed.text).not.toContain('key job refused');
      expect(await left()).toEqual(['alice', 'bob']);
      expect((await release(v, 'atm', 'alice')).status).toBe(200);
      // No connection.deleted event went out for a deletion that did not happen.
      expect(await events()).not.toContain('connection.deleted');
    } finally {
      await v.db.ds.query('DROP TRIGGER refuse_key_job ON vault.key_jobs');
      await v.db.ds.query('DROP FUNCTION vault.refuse_key_job()');
    }

    const r = await v.call('DELETE', '/v1/admin/users/alice', { token: admin() });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      user: 'alice',
      connections_destroyed: 1,
      tenant_key_rotation: { kind: 'tenant_rotate', tenant: 'atm' },
    });
    expect(await left()).toEqual(['bob']);
    expect((await events()).filter((e: string) => e === 'connection.deleted')).toHaveLength(1);
    const jobs = await v.db.ds.query(`SELECT kind, status FROM vault.key_jobs WHERE tenant = 'atm' AND kind = 'tenant_rotate'`);
    expect(jobs).toHaveLength(1);
  });
});
