import { Keyring } from '../../libs/crypto';
import { MAX_UNOPENED_OFFERS } from '../../libs/connect';
import { KeyJobRunner } from '../../libs/keys';
import { asTenantId } from '../../libs/kernel';
import { auditOf, CALLBACK, claimLink, clickConnect, createSession, openConsent, Rig, startRig, T } from './support';

/**
 * Loose ends of issue 3: the release path's connect links are bounded per user and integration;
 * connect sessions are sealed records like any other (tenant-key rotation rewraps a mid-flow
 * verifier, retirement cannot strand one, VK001 re-seals).
 */
describe('connect hardening', () => {
  let rig: Rig;
  const release = (user: string) => rig.v.call('POST', '/v1/connections/calendar/token', { token: rig.agentToken(user) });
  const sessionsOf = async (user: string) =>
    (await rig.v.db.ds.query(`SELECT count(*)::int AS n FROM vault.connect_sessions WHERE tenant = $1 AND subject = $2`, [T, user]))[0]
      .n as number;
  const offersAudited = async (user: string) => (await auditOf(rig, 'connect.session')).filter((e) => e.user === user).length;

  beforeAll(async () => {
    rig = await startRig({ mode: 'google', env: { KEY_ROTATION_RETIRE_DELAY_MS: '0' } });
  });
  afterAll(() => rig?.close());

  it('an agent looping on 404 gets a bounded number of connect links: no unbounded sessions or audit records', async () => {
    const statuses: number[] = [];
    const urls = new Set<string>();
    // Concurrently: the bound holds under a race (the count and the insert are serialised).
    const answers = await Promise.all(Array.from({ length: 3 * MAX_UNOPENED_OFFERS }, () => release('nina')));
    for (const a of answers) {
      statuses.push(a.status);
      if (a.body.connect_url) urls.add(a.body.connect_url);
    }
    expect(new Set(statuses)).toEqual(new Set([404]));
    expect(answers.every((a) => a.body.code === 'connection_not_found')).toBe(true);
    expect(urls.size).toBe(MAX_UNOPENED_OFFERS);
    expect(await sessionsOf('nina')).toBe(MAX_UNOPENED_OFFERS);
    expect(await offersAudited('nina')).toBe(MAX_UNOPENED_OFFERS);
    // The release denials themselves are still all audited, saying whether a link was offered.
    const denials = (await auditOf(rig, 'credential.release')).filter((e) => e.user === 'nina');
    expect(denials).toHaveLength(3 * MAX_UNOPENED_OFFERS);
    expect(denials.filter((e) => e.details.connect_offered === true)).toHaveLength(MAX_UNOPENED_OFFERS);

    // And sequentially, later on: still 404, no link, nothing new stored.
    const again = await release('nina');
    expect(again.status).toBe(404);
    expect(again.body.connect_url).toBeUndefined();
    expect(await sessionsOf('nina')).toBe(MAX_UNOPENED_OFFERS);

    // Once the user opens one of the links (and presses Continue), the agent may be offered a fresh one again.
    const ua = rig.browser();
    const opened = await claimLink(ua, [...urls][0]);
    expect(opened.status).toBe(303);
    const next = await release('nina');
    expect(next.body.connect_url).toMatch(/\/connect\/[A-Za-z0-9_-]{43}$/);
    expect(urls.has(next.body.connect_url)).toBe(false);

    // The bound is per user: another user of the same agent is offered a link.
    expect((await release('otto')).body.connect_url).toMatch(/\/connect\//);
    // An app backend's own sessions are not bounded by it (they are behind the admin rate limit).
    expect((await createSession(rig, 'nina')).url).toMatch(/\/connect\//);
  });

  it('a tenant-key rotation rewraps a mid-flow PKCE verifier: the old key is destroyed and the flow still completes', async () => {
    const ua = rig.browser();
    const consent = await openConsent(ua, (await createSession(rig, 'rita')).url);
    const authorize = await clickConnect(ua, consent);
    const [before] = await rig.v.db.ds.query(`SELECT tk_version, dek_wrapped, code_verifier_ct FROM vault.connect_sessions WHERE id = $1`, [
      consent.sessionId,
    ]);
    expect(before.code_verifier_ct).not.toBeNull();

    const rotate = await rig.v.call('POST', '/v1/admin/keys/rotate', { token: rig.admin(), body: { target: 'tenant' } });
    expect(rotate.status).toBe(202);
    expect(await rig.v.vault.app.get(KeyJobRunner).runOnce(rotate.body.job.id)).toMatchObject({ status: 'succeeded' });

    const [after] = await rig.v.db.ds.query(`SELECT tk_version, dek_wrapped, code_verifier_ct FROM vault.connect_sessions WHERE id = $1`, [
      consent.sessionId,
    ]);
    expect(after.tk_version).toBe(before.tk_version + 1);
    expect(after.dek_wrapped).not.toEqual(before.dek_wrapped); // rewrapped onto the new key…
    expect(after.code_verifier_ct).toEqual(before.code_verifier_ct); // …the ciphertext untouched
    const keys = await rig.v.db.ds.query(`SELECT version, status FROM vault.tenant_keys WHERE tenant = $1 ORDER BY version`, [T]);
    expect(keys.find((k: any) => k.version === before.tk_version).status).toBe('destroyed');

    const done = await ua.get(await ua.authorizeAt(authorize, CALLBACK, 'rita'));
    expect(done.status).toBe(303);
    expect(done.location).toContain('connect_status=connected');
    expect((await release('rita')).status).toBe(200);
  });

  it('no connect session can name a retired key version; a verifier sealed under one just retired is sealed again', async () => {
    const keyring = rig.v.vault.app.get(Keyring);
    const tenant = asTenantId(T);
    const ua = rig.browser();
    const consent = await openConsent(ua, (await createSession(rig, 'sam')).url);
    const stale = await keyring.seal(
      { tenant, table: 'connect_sessions', id: consent.sessionId, bind: { subject: 'sam', integration: 'calendar' } },
      { code_verifier: Buffer.from('x'.repeat(43)) },
    );
    const rotate = await rig.v.call('POST', '/v1/admin/keys/rotate', { token: rig.admin(), body: { target: 'tenant' } });
    expect(await rig.v.vault.app.get(KeyJobRunner).runOnce(rotate.body.job.id)).toMatchObject({ status: 'succeeded' });
    const [{ min_key_version: floor }] = await rig.v.db.ds.query(`SELECT min_key_version FROM vault.tenants WHERE id = $1`, [T]);
    expect(stale.tkVersion).toBeLessThan(floor);

    // The key_version_guard trigger (migration 1763800000400).
    await expect(
      rig.v.db.ds.query(`UPDATE vault.connect_sessions SET tk_version = $1 WHERE id = $2`, [stale.tkVersion, consent.sessionId]),
    ).rejects.toMatchObject({
      driverError: expect.objectContaining({ code: 'VK001' }),
    });

    // Connect clicked just as the rotation retired the key the verifier was sealed under: sealed again, the flow completes.
    const original = keyring.seal.bind(keyring);
    const spy = jest
      .spyOn(keyring, 'seal')
      .mockImplementationOnce(async () => stale)
      .mockImplementation(original);
    let authorize: string;
    try {
      authorize = await clickConnect(ua, consent);
      expect(spy).toHaveBeenCalledTimes(2);
    } finally {
      spy.mockRestore();
    }
    const [row] = await rig.v.db.ds.query(`SELECT tk_version FROM vault.connect_sessions WHERE id = $1`, [consent.sessionId]);
    expect(row.tk_version).toBeGreaterThanOrEqual(floor);
    const done = await ua.get(await ua.authorizeAt(authorize, CALLBACK, 'sam'));
    expect(done.location).toContain('connect_status=connected');
  });

  it('a flow abandoned at the provider loses its sealed verifier once its browser session ends (it pins no key version)', async () => {
    const ua = rig.browser();
    const consent = await openConsent(ua, (await createSession(rig, 'abe')).url);
    const authorize = await clickConnect(ua, consent);
    const sealed =
      `SELECT tk_version, dek_wrapped IS NOT NULL AS dek, code_verifier_ct IS NOT NULL AS verifier, ` +
      `state_hash IS NOT NULL AS state FROM vault.connect_sessions WHERE id = $1`;
    expect((await rig.v.db.ds.query(sealed, [consent.sessionId]))[0]).toMatchObject({ dek: true, verifier: true, state: true });
    await rig.v.db.ds.query(`UPDATE vault.connect_sessions SET browser_expires_at = now() - interval '1 second' WHERE id = $1`, [
      consent.sessionId,
    ]);
    await createSession(rig, 'someone-else'); // housekeeping runs as sessions are created
    expect((await rig.v.db.ds.query(sealed, [consent.sessionId]))[0]).toEqual({
      tk_version: null,
      dek: false,
      verifier: false,
      state: false,
    });
    // The user comes back from the provider after all: refused, nothing exchanged.
    const calls = (await rig.provider.stats()).token.authorization_code;
    const late = await ua.get(await ua.authorizeAt(authorize, CALLBACK, 'abe'));
    expect(late.status).toBe(400);
    expect((await rig.provider.stats()).token.authorization_code).toBe(calls);
  });
});
