import { connectOverHttp } from '../connect/support';
import { putEndpoint, Receiver } from '../webhooks/support';
import { RefreshRig, startRefreshRig, waitFor } from './support';

/**
 * The connection lifecycle reaches the tenant's webhook endpoint: each state change queues its
 * event in the same transaction (outbox), a real worker process delivers it, signed.
 */
describe('connection events from connect, refresh and disconnect', () => {
  let rig: RefreshRig;
  let receiver: Receiver;
  const events = () => receiver.to('/hooks').map((r) => r.json);
  const typesFor = (user: string) =>
    events()
      .filter((e) => e.data.user === user)
      .map((e) => e.type);

  beforeAll(async () => {
    rig = await startRefreshRig({ mode: 'rotating', users: [] });
    receiver = await new Receiver().start();
    receiver.trust('/hooks', await putEndpoint(rig.v, 'acme', `${receiver.url}/hooks`));
    await rig.worker({ REFRESH_BACKOFF_BASE_SECONDS: '1', REFRESH_BACKOFF_MAX_SECONDS: '1', WEBHOOK_POLL_INTERVAL_MS: '50' });
  }, 60_000);
  afterAll(async () => {
    await rig?.close();
    await receiver?.close();
  });

  it('created → refresh_failed (first of a streak only) → recovered → needs_reauth → recovered (reconnect) → deleted', async () => {
    await connectOverHttp(rig, 'erin');
    await waitFor('connection.created', () => typesFor('erin').includes('connection.created'));

    await rig.provider.faults({
      next: [
        { status: 503, body: { error: 'temporarily_unavailable' } },
        { status: 503, body: { error: 'temporarily_unavailable' } },
      ],
    });
    const v0 = (await rig.row('erin')).version;
    await rig.makeDue('erin', 120);
    await waitFor('the refresh after two failures', async () => (await rig.row('erin')).version !== v0, 30_000);
    await waitFor('connection.recovered', () => typesFor('erin').includes('connection.recovered'));

    await rig.provider.faults({ next: [{ status: 400, body: { error: 'invalid_grant' } }] });
    await rig.makeDue('erin', 120);
    await waitFor('connection.needs_reauth', () => typesFor('erin').includes('connection.needs_reauth'));

    await connectOverHttp(rig, 'erin'); // the user reconnects
    await waitFor('the reconnect', () => typesFor('erin').filter((t) => t === 'connection.recovered').length === 2);

    const del = await rig.v.call('DELETE', `/v1/admin/connections/${rig.integration}/users/erin`, { token: rig.admin() });
    expect(del.status).toBe(204);
    await waitFor('connection.deleted', () => typesFor('erin').includes('connection.deleted'));

    expect(typesFor('erin')).toEqual([
      'connection.created',
      'connection.refresh_failed',
      'connection.recovered',
      'connection.needs_reauth',
      'connection.recovered',
      'connection.deleted',
    ]);
    const byType = Object.fromEntries(
      events()
        .filter((e) => e.data.user === 'erin')
        .map((e) => [e.type, e.data]),
    );
    expect(byType['connection.refresh_failed']).toMatchObject({
      integration: rig.integration,
      status: 'active',
      error_class: 'transient:server_error',
    });
    expect(byType['connection.needs_reauth']).toMatchObject({ status: 'needs_reauth', error_class: 'terminal:invalid_grant' });
    expect(byType['connection.deleted']).toMatchObject({ status: 'deleted', connection_id: expect.any(String) });
    expect(receiver.to('/hooks').every((r) => r.verified)).toBe(true);
  });

  it('no event carries a token or a secret', async () => {
    const [row] = await rig.v.db.ds.query(`SELECT count(*)::int AS n FROM vault.webhook_outbox`);
    expect(row.n).toBeGreaterThan(0);
    const bodies = receiver
      .to('/hooks')
      .map((r) => r.body)
      .join('\n');
    expect(bodies).not.toMatch(/access_token|refresh_token|client_secret|"token"/i);
    for (const e of events())
      expect(Object.keys(e.data).sort()).toEqual(expect.arrayContaining(['connection_id', 'integration', 'user', 'status']));
  });
});
