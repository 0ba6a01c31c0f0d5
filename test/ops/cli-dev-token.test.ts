import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { runCli } from '../keys/support';

/**
 * `dev-token --roles` gives the user roles as an identity provider would (the `roles` claim), so the
 * walk-throughs that decide on roles (resources, policies with `users.roles_any`) run on `npm start`.
 */
describe('CLI dev-token: the roles claim', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vault-devtoken-'));
  const env = { VAULT_DATA_DIR: dir };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--roles "a b" puts both roles in the token', async () => {
    const r = await runCli(['dev-token', '--sub', 'alice', '--roles', 'analyst  crm-admin'], env);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(decodeJwt(r.stdout.trim())).toMatchObject({ sub: 'alice', roles: ['analyst', 'crm-admin'] });
  });

  it('without --roles the token has no roles claim', async () => {
    const r = await runCli(['dev-token', '--sub', 'alice'], env);
    expect(r.code).toBe(0);
    expect(decodeJwt(r.stdout.trim())).not.toHaveProperty('roles');
  });
});
