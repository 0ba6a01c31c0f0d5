import { DataSource } from 'typeorm';
import { WebhookDispatcher, WebhookOutbox } from '../../libs/webhooks';
import { startTestVault, TestVault } from '../support/vault';
import { DRIVEN, needsReauth, outboxOf, putEndpoint, Receiver, waitFor } from './support';

/**
 * Crypto-shredding a tenant takes its webhook endpoint (whose signing secret is sealed under the
 * destroyed tenant keys) and its outbox events with it, in the shred's transaction: nothing of the
 * shredded tenant is delivered afterwards, not even to an endpoint the tenant sets up again.
 */
describe('webhooks of a shredded tenant', () => {
  let v: TestVault;
  let receiver: Receiver;
  let dispatcher: WebhookDispatcher;
  let outbox: WebhookOutbox;
  let ds: DataSource;

  const endpoint = async (tenant: string, path: string) => {
    receiver.trust(path, await putEndpoint(v, tenant, `${receiver.url}${path}`));
  };
  const count = async (table: string, tenant: string) =>
    (await ds.query(`SELECT count(*)::int AS n FROM ${table} WHERE tenant = $1`, [tenant]))[0].n;

  beforeAll(async () => {
    receiver = await new Receiver().start();
    v = await startTestVault(DRIVEN);
    dispatcher = v.vault.app.get(WebhookDispatcher);
    outbox = v.vault.app.get(WebhookOutbox);
    ds = v.vault.app.get(DataSource);
  }, 60_000);
  afterAll(async () => {
    await v?.close();
    await receiver?.close();
  });

  it(
    'the endpoint and every outbox event of the tenant go with the shred; nothing is delivered afterwards; other ' +
      'tenants are untouched',
    async () => {
      await endpoint('wh-shred', '/hooks/shred');
      await endpoint('wh-keep', '/hooks/keep');
      // One delivered event, one waiting for a retry, one not yet attempted.
      await outbox.enqueue(ds, needsReauth('wh-shred'));
      expect(await dispatcher.tick()).toMatchObject({ delivered: 1 });
      receiver.plan('/hooks/shred', [{ status: 503, headers: { 'retry-after': '1' } }]);
      const retried = await outbox.enqueue(ds, needsReauth('wh-shred'));
      expect(await dispatcher.tick()).toMatchObject({ failed: 1 });
      await outbox.enqueue(ds, needsReauth('wh-shred'));
      await outbox.enqueue(ds, needsReauth('wh-keep'));
      const rows = await outboxOf(v, 'wh-shred');
      expect(rows.map((e) => e.status)).toEqual(['delivered', 'pending', 'pending']);
      const retryDue: Date = rows.find((e) => e.id === retried.id).next_attempt_at;
      const before = receiver.to('/hooks/shred').length;

      const r = await v.call('DELETE', '/v1/admin/tenant?confirm=wh-shred', { token: v.issuer.adminToken('wh-shred') });
      expect(r.status).toBe(200);
      expect(await count('webhook_endpoints', 'wh-shred')).toBe(0);
      expect(await outboxOf(v, 'wh-shred')).toEqual([]);
      const [audit] = await ds.query(`SELECT details FROM audit_events WHERE tenant = 'wh-shred' AND action = 'key.shred'`);
      expect(audit.details).toMatchObject({ scope: 'tenant', webhook_endpoints: 1, webhook_events: 3 });

      // The tenant starts again with a new endpoint: events from before the shred never reach it.
      await endpoint('wh-shred', '/hooks/shred-again');
      await waitFor(
        'the retried event to have been due',
        async () => (await ds.query(`SELECT now() > $1::timestamptz AS due`, [retryDue]))[0].due,
        10_000,
      );
      await dispatcher.tick();
      await dispatcher.tick();
      expect(receiver.to('/hooks/shred')).toHaveLength(before);
      expect(receiver.to('/hooks/shred-again')).toEqual([]);
      expect(await ds.query(`SELECT id FROM webhook_outbox WHERE id = $1`, [retried.id])).toEqual([]);

      // The other tenant's endpoint and event are untouched, and its event is delivered.
      expect(await count('webhook_endpoints', 'wh-keep')).toBe(1);
      expect(receiver.to('/hooks/keep').map((g) => g.verified)).toEqual([true]);
      expect((await outboxOf(v, 'wh-keep')).map((e) => e.status)).toEqual(['delivered']);
    },
  );

  it('an outbox insert that raced the shred (committed after it) is not delivered to the endpoint set up afterwards', async () => {
    await endpoint('wh-race', '/hooks/race');
    const r = await v.call('DELETE', '/v1/admin/tenant?confirm=wh-race', { token: v.issuer.adminToken('wh-race') });
    expect(r.status).toBe(200);
    // What the racing transaction leaves: a row whose transaction began before the shred committed
    // (created_at is its start time) and that was committed after the shred's delete.
    const [survivor] = await ds.query(
      `INSERT INTO webhook_outbox (id, tenant, event_type, payload, created_at) VALUES (gen_random_uuid(), 'wh-race', ` +
        `'connection.needs_reauth', $1::jsonb, now() - interval '2 seconds') RETURNING id`,
      [JSON.stringify(needsReauth('wh-race').data)],
    );
    await endpoint('wh-race', '/hooks/race-again');
    // An event of the new endpoint's time is delivered; the survivor is dropped, not sent.
    await outbox.enqueue(ds, needsReauth('wh-race'));
    await dispatcher.tick();
    expect(receiver.to('/hooks/race-again').map((g) => g.verified)).toEqual([true]);
    const [row] = await ds.query(`SELECT status, last_error FROM webhook_outbox WHERE id = $1`, [survivor.id]);
    expect(row).toEqual({ status: 'dead', last_error: 'before_endpoint' });
    expect(receiver.to('/hooks/race')).toEqual([]);
  });
});
