import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { asTenantId } from '../../libs/kernel';
import { WebhookOutbox } from '../../libs/webhooks';
import { connectOverHttp, Rig, startRig, T } from '../connect/support';
import { parseMetrics, sample } from '../ops/support';
import { SpawnedWorker, startWorker } from '../keys/support';
import { outboxOf, putEndpoint, Receiver, waitFor } from './support';

/**
 * The dispatcher's own loop in real worker processes (apps/worker/main.ts) on the vault's database:
 * SSRF checks at delivery time, a real connect flow whose `connection.created` reaches the tenant's
 * endpoint, and several dispatchers on one outbox delivering each event exactly once.
 */
describe('webhook dispatchers in worker processes', () => {
  let rig: Rig;
  let receiver: Receiver;
  let kekFile: string;
  let secret: string;
  const workers: SpawnedWorker[] = [];
  const path = '/hooks/acme';

  async function worker(env: Record<string, string>): Promise<SpawnedWorker> {
    const w = await startWorker({
      DATABASE_URL: rig.v.db.url,
      LOCAL_KEK_FILE: kekFile,
      VAULT_PUBLIC_URL: 'https://vault.test.example',
      KEY_SCHEDULER_INTERVAL_SECONDS: '3600',
      WEBHOOK_POLL_INTERVAL_MS: '20',
      WEBHOOK_BATCH_SIZE: '10',
      WEBHOOK_BACKOFF_BASE_MS: '100',
      LOG_LEVEL: 'warn',
      ...env,
    });
    workers.push(w);
    return w;
  }

  beforeAll(async () => {
    receiver = await new Receiver().start();
    kekFile = join(mkdtempSync(join(tmpdir(), 'webhooks-kek-')), 'kek.json');
    rig = await startRig({ mode: 'google', env: { LOCAL_KEK_FILE: kekFile, WEBHOOKS_IN_PROCESS: 'false' } });
    secret = await putEndpoint(rig.v, T, `${receiver.url}${path}`);
    receiver.trust(path, secret);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill('SIGKILL')));
    await rig?.close();
    await receiver?.close();
  });

  it('a dispatcher without the allowlist does not reach a loopback endpoint (checked at every delivery)', async () => {
    const strict = await worker({});
    const test = await rig.v.call('POST', '/v1/admin/webhooks/test', { token: rig.admin() });
    expect(test.status).toBe(202);
    const row = await waitFor('a refused attempt', async () =>
      (await outboxOf(rig.v, T)).find((r) => r.id === test.body.id && r.attempts >= 1 && r.last_error),
    );
    expect(row).toMatchObject({ status: 'pending', last_error: 'blocked' });
    await strict.kill('SIGTERM');
    expect(receiver.received).toEqual([]);
  });

  it('allowlisted workers deliver: the refused event on its retry, and connection.created from a real connect flow', async () => {
    // Each serves /metrics on a port of its own (scraped in the last test).
    const env = { OUTBOUND_ALLOW_HOSTS: '127.0.0.1', WORKER_METRICS_PORT: '0', HOST: '127.0.0.1' };
    await Promise.all([worker(env), worker(env)]);
    await rig.v.db.ds.query(`UPDATE vault.webhook_outbox SET next_attempt_at = now() WHERE status = 'pending'`);
    await waitFor('the test event', () => receiver.to(path).some((r) => r.json?.type === 'webhook.test'));

    await connectOverHttp(rig, 'alice');
    const created = await waitFor('connection.created', () => receiver.to(path).find((r) => r.json?.type === 'connection.created'));
    expect(created.verified).toBe(true);
    const [conn] = await rig.v.db.ds.query(`SELECT id FROM vault.connections WHERE tenant = $1 AND subject = 'alice'`, [T]);
    expect(created.json).toEqual({
      id: created.headers['webhook-id'],
      type: 'connection.created',
      timestamp: expect.any(String),
      tenant: T,
      data: { connection_id: conn.id, integration: rig.integration, user: 'alice', status: 'active' },
    });

    // The tokens of that connection are nowhere in what the webhook path stored or sent.
    const release = await rig.v.call('POST', `/v1/connections/${rig.integration}/token`, { token: rig.agentToken('alice') });
    expect(release.status).toBe(200);
    const stored = JSON.stringify(await rig.v.db.ds.query(`SELECT payload, last_error FROM vault.webhook_outbox`));
    const sent = JSON.stringify(receiver.received.map((r) => [r.headers, r.body]));
    for (const leak of [release.body.access_token, secret.slice('whsec_'.length)]) {
      expect(stored).not.toContain(leak);
      expect(sent).not.toContain(leak);
    }
    expect(workers.flatMap((w) => w.output).join('')).not.toContain(secret.slice('whsec_'.length));
  });

  it('two dispatchers on one outbox: 120 events, each delivered exactly once, by both, and counted on their /metrics', async () => {
    receiver.delayMs = 20;
    const before = receiver.to(path).length;
    const ds = rig.v.vault.app.get(DataSource);
    const outbox = rig.v.vault.app.get(WebhookOutbox);
    const ids = await ds.transaction(async (m) => {
      const out: string[] = [];
      for (let i = 0; i < 120; i++) {
        const r = await outbox.enqueue(m, {
          tenant: asTenantId(T),
          type: 'connection.refresh_failed',
          data: { connection_id: `c-${i}`, integration: 'calendar', user: `u${i}`, status: 'active', error_class: 'transient:http_503' },
        });
        out.push(r.id);
      }
      return out;
    });
    await waitFor(
      'every event delivered',
      async () => {
        const [{ n }] = await ds.query(`SELECT count(*)::int AS n FROM webhook_outbox WHERE id = ANY($1) AND status = 'delivered'`, [ids]);
        return n === ids.length;
      },
      60_000,
    );
    const got = receiver
      .to(path)
      .slice(before)
      .filter((r) => ids.includes(r.headers['webhook-id'] as string));
    expect(got).toHaveLength(120);
    expect(new Set(got.map((r) => r.headers['webhook-id'])).size).toBe(120);
    expect(got.every((r) => r.verified)).toBe(true);
    const rows = await ds.query(`SELECT attempts, lease_owner FROM webhook_outbox WHERE id = ANY($1)`, [ids]);
    expect(rows.every((r: any) => r.attempts === 1)).toBe(true);
    expect(new Set(rows.map((r: any) => r.lease_owner)).size).toBe(2); // both workers took part
    // Each worker's /metrics counts its own deliveries: together, the 120; the outbox has no lag left.
    const scrapes = await Promise.all(
      workers.slice(1).map(async (w) => (await fetch(/metrics on (http:\/\/\S+)/.exec(w.output.join(''))![1])).text()),
    );
    const delivered = scrapes
      .map((text) => parseMetrics(text))
      .map((m) => sample(m, 'vault_webhook_deliveries_total', { event_type: 'connection.refresh_failed', outcome: 'delivered' }));
    expect(delivered.every((n) => n > 0)).toBe(true);
    expect(delivered.reduce((a, b) => a + b, 0)).toBe(120);
    for (const text of scrapes) expect(sample(parseMetrics(text), 'vault_webhook_outbox_lag_seconds')).toBe(0);
    await new Promise((r) => setTimeout(r, 300)); // nothing more arrives afterwards
    expect(
      receiver
        .to(path)
        .slice(before)
        .filter((r) => ids.includes(r.headers['webhook-id'] as string)),
    ).toHaveLength(120);
  });
});
