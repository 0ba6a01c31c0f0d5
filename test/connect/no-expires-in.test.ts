import { connectOverHttp, Rig, startRig } from './support';

/**
 * A Salesforce-like provider: token responses carry no `expires_in` but `instance_url`, `id` and
 * `issued_at` (ms). The entry says what "expired" means (an assumed lifetime from `issued_at`)
 * and which metadata to keep; metadata is written back on every refresh.
 */
describe('a provider without expires_in (Salesforce-like)', () => {
  let rig: Rig;
  const release = () => rig.v.call('POST', '/v1/connections/crm/token', { token: rig.agentToken('alice') });

  beforeAll(async () => {
    rig = await startRig({
      mode: 'no-expires-in',
      integration: 'crm',
      scopes: ['openid', 'offline_access'],
      providerOptions: {
        expires_in_when_missing: 900,
        issued_at: { path: 'issued_at', unit: 'ms' },
        metadata: { instance_url: 'instance_url', id: 'id', issued_at: 'issued_at' },
        identity: { source: 'response', subject: 'id' },
      },
    });
    await connectOverHttp(rig, 'alice');
  });
  afterAll(() => rig?.close());

  it('stores instance_url, id and issued_at, and an expiry of issued_at + the assumed lifetime', async () => {
    const [row] = await rig.v.db.ds.query(`SELECT metadata, expires_at, provider_account_id FROM vault.connections`);
    expect(row.metadata).toEqual({
      instance_url: `${rig.provider.url}/instance`,
      id: `${rig.provider.url}/id/00Dxx0000001gPL/005xx000001Sv6A`,
      issued_at: expect.stringMatching(/^\d{13}$/),
    });
    expect(row.provider_account_id).toBe(row.metadata.id);
    const lifetime = row.expires_at.getTime() - Number(row.metadata.issued_at);
    expect(lifetime).toBe(900_000);
  });

  it('release returns the metadata with the token', async () => {
    const r = await release();
    expect(r.status).toBe(200);
    expect(r.body.metadata).toMatchObject({ instance_url: `${rig.provider.url}/instance` });
    expect(Date.parse(r.body.expires_at)).toBeLessThanOrEqual(Date.now() + 900_000);
  });

  it('a refresh writes the metadata back (a new issued_at) and a new assumed expiry', async () => {
    const [before] = await rig.v.db.ds.query(`SELECT metadata FROM vault.connections`);
    await rig.v.db.ds.query(
      `UPDATE vault.connections SET expires_at = now() - interval '1 second', metadata = metadata ` +
        `|| '{"instance_url":"https://stale.example"}'`,
    );
    await new Promise((r) => setTimeout(r, 5));
    const r = await release();
    expect(r.status).toBe(200);
    expect(r.body.metadata.instance_url).toBe(`${rig.provider.url}/instance`);
    const [after] = await rig.v.db.ds.query(`SELECT metadata, expires_at FROM vault.connections`);
    expect(Number(after.metadata.issued_at)).toBeGreaterThan(Number(before.metadata.issued_at));
    expect(after.expires_at.getTime() - Number(after.metadata.issued_at)).toBe(900_000);
  });
});
