import { setTimeout as sleep } from 'node:timers/promises';
import type { RunningVault } from '../../apps/vault/bootstrap';
import { startSecondVault, startTestVault, TestVault } from '../support/vault';

/**
 * Single-token revocations (RFC 7009) are rows until their token's `exp`; past it the token is
 * refused as expired anyway. Each process deletes those whose token expired over an hour ago,
 * soon after it starts and hourly, so the table does not grow with every revocation ever made.
 */
describe('pruning expired token revocations', () => {
  let v: TestVault;
  let second: RunningVault | undefined;
  beforeAll(async () => {
    v = await startTestVault();
  });
  afterAll(async () => {
    await second?.close();
    await v?.close();
  });

  const jtis = async () => (await v.db.ds.query(`SELECT jti FROM vault.token_revocations ORDER BY jti`)).map((r: { jti: string }) => r.jti);

  it('a process deletes revocations of tokens that expired over an hour ago, and keeps the rest', async () => {
    await v.db.ds.query(
      `INSERT INTO vault.tenants (id) VALUES ('prn') ON CONFLICT DO NOTHING;
       INSERT INTO vault.token_revocations (tenant, jti, expires_at) VALUES
         ('prn', 'a-long-expired', now() - interval '2 hours'),
         ('prn', 'b-just-expired', now() - interval '1 minute'),
         ('prn', 'c-still-valid', now() + interval '10 minutes')`,
    );
    expect(await jtis()).toEqual(['a-long-expired', 'b-just-expired', 'c-still-valid']);
    // The first process pruned when it started (there was nothing then); a process starting now prunes on its first reload.
    second = await startSecondVault(v);
    for (let i = 0; i < 100 && (await jtis()).includes('a-long-expired'); i++) await sleep(50);
    expect(await jtis()).toEqual(['b-just-expired', 'c-still-valid']);
  });
});
