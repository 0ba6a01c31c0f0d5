import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { runCli } from '../keys/support';

/**
 * `dev-token --roles` gives the user roles as an identity provider would (the `roles` claim), so the
 * walk-throughs that decide on roles (resources, policies with `users.roles_any`) run on `npm start`;
 * `--aud` a token for another audience (an MCP server's own, an agent's assertion for the token endpoint).
 */
describe('CLI dev-token: roles and audience', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vault-devtoken-'));
  const env = { VAULT_DATA_DIR: dir };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--roles "a b" puts both roles in the token', async () => {
    const r = await runCli(['dev-token', '--sub', 'alice', '--roles', 'analyst  crm-admin'], env);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(decodeJwt(r.stdout.trim())).toMatchObject({ sub: 'alice', roles: ['analyst', 'crm-admin'] });
  });

  it('without --roles the token has no roles claim, and its audience is the vault', async () => {
    const r = await runCli(['dev-token', '--sub', 'alice'], env);
    expect(r.code).toBe(0);
    const claims = decodeJwt(r.stdout.trim());
    expect(claims).not.toHaveProperty('roles');
    expect(claims.aud).toBe('http://localhost:8080');
  });

  it('--aud sets the audience', async () => {
    const r = await runCli(['dev-token', '--sub', 'alice', '--aud', 'https://mcp.example.com'], env);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(decodeJwt(r.stdout.trim()).aud).toBe('https://mcp.example.com');
  });
});
