import { DataSource } from 'typeorm';
import { WebhookDispatcher, WebhookOutbox } from '../../libs/webhooks';
import { parseMetrics, sample } from '../ops/support';
import { startTestVault, TestVault } from '../support/vault';
import { DRIVEN, needsReauth, putEndpoint, Receiver, waitFor } from './support';

/**
 * Webhook metrics on the /metrics of the process whose dispatcher runs (here the API, as on the
 * embedded default; the worker's are scraped in workers.test.ts): delivery attempts by event type
 * and outcome, and the outbox's lag. Labels name event types and outcomes, never a tenant or a URL.
 */
describe('webhook metrics', () => {
  let v: TestVault;
  let receiver: Receiver;
  let dispatcher: WebhookDispatcher;
  let outbox: WebhookOutbox;
  let ds: DataSource;

  const scrape = async () => {
    const r = await v.call('GET', '/metrics');
    expect(r.status).toBe(200);
    return r.text;
  };

  beforeAll(async () => {
    receiver = await new Receiver().start();
    // The API runs the dispatcher; its loop ticks once at start and then waits ten minutes, so the test drives the rest with tick().
    v = await startTestVault({ ...DRIVEN, WEBHOOKS_IN_PROCESS: 'true', WEBHOOK_POLL_INTERVAL_MS: '600000', WEBHOOK_MAX_ATTEMPTS: '2' });
    dispatcher = v.vault.app.get(WebhookDispatcher);
    outbox = v.vault.app.get(WebhookOutbox);
    ds = v.vault.app.get(DataSource);
    for (const tenant of ['wh-ok', 'wh-fail'])
      receiver.trust(`/hooks/${tenant}`, await putEndpoint(v, tenant, `${receiver.url}/hooks/${tenant}`));
  }, 60_000);
  afterAll(async () => {
    await v?.close();
    await receiver?.close();
  });

  it('the outbox lag is the wait of the oldest due event; deliveries are counted as delivered, retry and dead', async () => {
    const before = parseMetrics(await scrape());
    expect(sample(before, 'vault_webhook_outbox_lag_seconds')).toBe(0);

    const ok = await outbox.enqueue(ds, needsReauth('wh-ok'));
    const failing = await outbox.enqueue(ds, needsReauth('wh-fail'));
    // Due for 42 s and not yet claimed: a dispatcher that fell behind.
    await ds.query(`UPDATE webhook_outbox SET next_attempt_at = now() - interval '42 seconds' WHERE id = $1`, [ok.id]);
    const lagging = parseMetrics(await scrape());
    expect(sample(lagging, 'vault_webhook_outbox_lag_seconds')).toBeGreaterThanOrEqual(42);
    expect(sample(lagging, 'vault_webhook_outbox_lag_seconds')).toBeLessThan(600);

    receiver.plan('/hooks/wh-fail', [{ status: 500 }, { status: 500 }]);
    expect(await dispatcher.tick()).toMatchObject({ claimed: 2, delivered: 1, failed: 1 });
    expect(receiver.to('/hooks/wh-ok').map((r) => r.verified)).toEqual([true]);
    await waitFor(
      'the retry to be due',
      async () => (await ds.query(`SELECT next_attempt_at <= now() AS due FROM webhook_outbox WHERE id = $1`, [failing.id]))[0]?.due,
      10_000,
      20,
    );
    expect(await dispatcher.tick()).toMatchObject({ claimed: 1, dead: 1 });

    const text = await scrape();
    const after = parseMetrics(text);
    const count = (outcome: string) => sample(after, 'vault_webhook_deliveries_total', { event_type: 'connection.needs_reauth', outcome });
    expect([count('delivered'), count('retry'), count('dead')]).toEqual([1, 1, 1]);
    expect(sample(after, 'vault_webhook_outbox_lag_seconds')).toBe(0);
    const lines = text.split('\n').filter((l) => l.startsWith('vault_webhook_'));
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const leak of ['wh-ok', 'wh-fail', '127.0.0.1', new URL(receiver.url).port, '/hooks'])
      expect(lines.join('\n')).not.toContain(leak);
  });
});
