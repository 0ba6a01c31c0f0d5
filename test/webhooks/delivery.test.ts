import { DataSource } from 'typeorm';
import { WebhookDispatcher, WebhookOutbox } from '../../libs/webhooks';
import { LogCapture } from '../support/log-capture';
import { startTestVault, TestVault } from '../support/vault';
import { DRIVEN, needsReauth, outboxOf, putEndpoint, Receiver, waitFor } from './support';

/**
 * Delivery from the outbox, on real Postgres and the real vault, with the dispatcher driven by the
 * test (`tick()` = one claim-and-deliver pass) so each intermediate state can be read. The running
 * loop and several dispatchers at once are in workers.test.ts.
 */
describe('webhook delivery from the transactional outbox', () => {
  let v: TestVault;
  let receiver: Receiver;
  let dispatcher: WebhookDispatcher;
  let outbox: WebhookOutbox;
  let ds: DataSource;
  const logs = new LogCapture();
  const secrets: string[] = [];

  const endpoint = async (tenant: string, events?: string[]) => {
    const secret = await putEndpoint(v, tenant, `${receiver.url}/hooks/${tenant}`, events);
    receiver.trust(`/hooks/${tenant}`, secret);
    secrets.push(secret);
  };
  const whenDue = (id: string) =>
    waitFor(
      'the retry to be due',
      async () => (await ds.query(`SELECT next_attempt_at <= now() AS due FROM webhook_outbox WHERE id = $1`, [id]))[0]?.due,
      70_000,
      20,
    );

  beforeAll(async () => {
    receiver = await new Receiver().start();
    v = await startTestVault(DRIVEN, { logger: logs });
    logs.start({ quiet: true });
    dispatcher = v.vault.app.get(WebhookDispatcher);
    outbox = v.vault.app.get(WebhookOutbox);
    ds = v.vault.app.get(DataSource);
  }, 60_000);
  afterAll(async () => {
    logs.stop();
    await v?.close();
    await receiver?.close();
  });

  it('a test event is delivered once, signed per Standard Webhooks, with the event as the body', async () => {
    await endpoint('t-test');
    const r = await v.call('POST', '/v1/admin/webhooks/test', { token: v.issuer.adminToken('t-test') });
    expect(r.status).toBe(202);
    expect(await dispatcher.tick()).toMatchObject({ claimed: 1, delivered: 1 });
    const [got, ...more] = receiver.to('/hooks/t-test');
    expect(more).toEqual([]);
    expect(got.verified).toBe(true);
    expect(got.headers['webhook-id']).toBe(r.body.id);
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.json).toEqual({
      id: r.body.id,
      type: 'webhook.test',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      tenant: 't-test',
      data: { requested_by: expect.any(String) },
    });
    expect(await outboxOf(v, 't-test')).toEqual([
      expect.objectContaining({ id: r.body.id, status: 'delivered', attempts: 1, last_error: null, lease_owner: dispatcher.owner }),
    ]);
    expect((await dispatcher.tick()).claimed).toBe(0);
    expect(receiver.to('/hooks/t-test')).toHaveLength(1);
  });

  it("enqueue commits or rolls back with the caller's transaction; no endpoint or an unsubscribed type writes nothing", async () => {
    await endpoint('t-tx', ['connection.needs_reauth']);
    await expect(
      ds.transaction(async (m) => {
        await outbox.enqueue(m, needsReauth('t-tx'));
        throw new Error('the state change failed');
      }),
    ).rejects.toThrow('the state change failed');
    expect(await outboxOf(v, 't-tx')).toEqual([]);

    const committed = await ds.transaction((m) => outbox.enqueue(m, needsReauth('t-tx')));
    expect(committed.enqueued).toBe(true);
    expect(await outbox.enqueue(ds, needsReauth('t-tx', 'connection.created'))).toMatchObject({ enqueued: false });
    expect(await outbox.enqueue(ds, needsReauth('t-nobody'))).toMatchObject({ enqueued: false });
    await expect(outbox.enqueue(ds, { ...needsReauth('t-tx'), data: { connection_id: 'x', access_token: 'at-canary' } })).rejects.toThrow(
      TypeError,
    );

    expect((await dispatcher.tick()).delivered).toBe(1);
    const got = receiver.to('/hooks/t-tx');
    expect(got.map((g) => [g.headers['webhook-id'], g.json.type, g.verified])).toEqual([[committed.id, 'connection.needs_reauth', true]]);
    expect(got[0].json.data).toEqual(needsReauth('t-tx').data);
    expect(await ds.query(`SELECT count(*)::int AS n FROM webhook_outbox WHERE tenant IN ('t-tx', 't-nobody')`)).toEqual([{ n: 1 }]);
  });

  it('500, 500, then 200: delivered exactly once, after retries whose backoff ceiling grows', async () => {
    await endpoint('t-retry');
    receiver.plan('/hooks/t-retry', [{ status: 500 }, { status: 500 }]);
    const { id } = await outbox.enqueue(ds, needsReauth('t-retry'));
    const states: any[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      if (attempt > 1) await whenDue(id);
      await dispatcher.tick();
      states.push((await outboxOf(v, 't-retry'))[0]);
    }
    expect(states.map((s) => [s.status, s.attempts, s.last_error])).toEqual([
      ['pending', 1, 'http_500'],
      ['pending', 2, 'http_500'],
      ['delivered', 3, null],
    ]);
    // Full jitter: each wait is within [0, base·2^(n−1)]; each retry is scheduled after the one before.
    const waits = states.slice(0, 2).map((s) => s.next_attempt_at.getTime() - s.last_attempt_at.getTime());
    expect(waits[0]).toBeGreaterThanOrEqual(0);
    expect(waits[0]).toBeLessThanOrEqual(200);
    expect(waits[1]).toBeGreaterThanOrEqual(0);
    expect(waits[1]).toBeLessThanOrEqual(400);
    expect(states[1].next_attempt_at.getTime()).toBeGreaterThan(states[0].next_attempt_at.getTime());
    expect(states[1].last_attempt_at.getTime()).toBeGreaterThanOrEqual(states[0].next_attempt_at.getTime());
    const got = receiver.to('/hooks/t-retry');
    expect(got.map((g) => g.status)).toEqual([500, 500, 200]);
    expect(new Set(got.map((g) => g.headers['webhook-id']))).toEqual(new Set([id]));
    expect(new Set(got.map((g) => g.body)).size).toBe(1); // the same event each time
    expect(got.every((g) => g.verified)).toBe(true);
    await dispatcher.tick();
    expect(receiver.to('/hooks/t-retry')).toHaveLength(3);
  });

  it('Retry-After is honoured: the event waits at least that long, then goes out', async () => {
    await endpoint('t-after');
    receiver.plan('/hooks/t-after', [{ status: 503, headers: { 'retry-after': '30' } }]);
    const { id } = await outbox.enqueue(ds, needsReauth('t-after'));
    await dispatcher.tick();
    const [row] = await outboxOf(v, 't-after');
    expect(row).toMatchObject({ status: 'pending', attempts: 1, last_error: 'http_503' });
    const wait = row.next_attempt_at.getTime() - row.last_attempt_at.getTime();
    expect(wait).toBeGreaterThanOrEqual(30_000);
    expect(wait).toBeLessThanOrEqual(60_000); // the cap bounds it
    await dispatcher.tick();
    expect(receiver.to('/hooks/t-after')).toHaveLength(1); // not retried early
    await ds.query(`UPDATE webhook_outbox SET next_attempt_at = now() WHERE id = $1`, [id]); // the 30 s have passed
    await dispatcher.tick();
    expect((await outboxOf(v, 't-after'))[0]).toMatchObject({ status: 'delivered', attempts: 2 });
  });

  it('after the last attempt the event is dead, with the error class and a warning that names no URL or secret', async () => {
    await endpoint('t-dead');
    receiver.plan('/hooks/t-dead', ['hang', { status: 500 }, { status: 500 }, { status: 500 }]);
    const { id } = await outbox.enqueue(ds, needsReauth('t-dead'));
    await dispatcher.tick();
    expect((await outboxOf(v, 't-dead'))[0]).toMatchObject({ status: 'pending', attempts: 1, last_error: 'timeout' });
    for (let i = 0; i < 2; i++) {
      await whenDue(id);
      await dispatcher.tick();
    }
    const [row] = await outboxOf(v, 't-dead');
    expect(row).toMatchObject({ status: 'dead', attempts: 3, last_error: 'http_500', lease_owner: dispatcher.owner });
    expect(row.finished_at).not.toBeNull();
    await ds.query(`UPDATE webhook_outbox SET next_attempt_at = now() - interval '1 hour' WHERE id = $1`, [id]);
    await dispatcher.tick();
    expect(receiver.to('/hooks/t-dead')).toHaveLength(3);
    const warning = logs.find([id]);
    expect(warning).toHaveLength(1);
    expect(warning[0]).toMatch(/dead after 3 attempts \(last error: http_500\)/);
    expect(warning[0]).not.toContain('/hooks/');
  });

  it('an event whose endpoint was removed meanwhile is dropped, not sent', async () => {
    await endpoint('t-gone');
    await outbox.enqueue(ds, needsReauth('t-gone'));
    expect((await v.call('DELETE', '/v1/admin/webhooks', { token: v.issuer.adminToken('t-gone') })).status).toBe(204);
    await dispatcher.tick();
    expect(await outboxOf(v, 't-gone')).toEqual([expect.objectContaining({ status: 'dead', last_error: 'no_endpoint', attempts: 1 })]);
    expect(receiver.to('/hooks/t-gone')).toEqual([]);
  });

  it('finished events are purged after their retention; pending ones never', async () => {
    await endpoint('t-purge');
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await outbox.enqueue(ds, needsReauth('t-purge'))).id);
    await dispatcher.tick();
    await ds.query(`UPDATE webhook_outbox SET finished_at = now() - interval '4 days' WHERE id = $1`, [ids[0]]); // past 72 h
    // dead are kept 30 days
    await ds.query(`UPDATE webhook_outbox SET status = 'dead', finished_at = now() - interval '4 days' WHERE id = $1`, [ids[1]]);
    const pending = await outbox.enqueue(ds, needsReauth('t-purge'));
    await ds.query(
      `UPDATE webhook_outbox SET created_at = now() - interval '90 days', next_attempt_at = now() + interval '1 hour' WHERE id = $1`,
      [pending.id],
    );
    expect(await dispatcher.purge()).toBeGreaterThanOrEqual(1);
    expect((await outboxOf(v, 't-purge')).map((r) => r.id).sort()).toEqual([ids[1], ids[2], pending.id].sort());
    expect(await dispatcher.purge(Date.now() + 31 * 86400_000)).toBeGreaterThanOrEqual(2);
    expect((await outboxOf(v, 't-purge')).map((r) => r.id)).toEqual([pending.id]);
  });

  it('no signing secret or token is in a log line, an outbox payload or a delivery', async () => {
    expect(secrets.length).toBeGreaterThan(5);
    const needles = [...secrets, ...secrets.map((s) => s.slice('whsec_'.length)), 'at-canary'];
    expect(logs.find(needles)).toEqual([]);
    const payloads = JSON.stringify(await ds.query(`SELECT payload, last_error FROM webhook_outbox`));
    expect(needles.filter((n) => payloads.includes(n))).toEqual([]);
    const deliveries = JSON.stringify(receiver.received.map((r) => [r.body, r.headers]));
    expect(needles.filter((n) => deliveries.includes(n))).toEqual([]);
  });
});
