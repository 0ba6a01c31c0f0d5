import type { FastifyRequest } from 'fastify';
import { AuthRejectionSink, TokenVerifier } from '../../../libs/auth';
import { RouteRateLimits } from '../ops/rate-limit';
import { DashboardSession } from './dashboard-session';

const request = (headers: Record<string, string> = {}, body?: Record<string, string>) =>
  ({ method: 'POST', headers, body }) as unknown as FastifyRequest;
// The cookie and CSRF rules need no token verification, rejection sink or rate limit: sign-in is refused before the token is looked at.
const session = (publicUrl: string) =>
  new DashboardSession(
    undefined as unknown as TokenVerifier,
    { publicUrl },
    undefined as unknown as AuthRejectionSink,
    undefined as unknown as RouteRateLimits,
  );

describe('dashboard session cookies', () => {
  it('over https: __Secure- names and the Secure flag; always HttpOnly, SameSite=Strict, Path=/dashboard', () => {
    const c = session('https://vault.example').csrf(request());
    expect(c.setCookie).toMatch(/^__Secure-vault_dashboard_csrf=[A-Za-z0-9_-]{43}; Path=\/dashboard; HttpOnly; SameSite=Strict; Secure$/);
    expect(session('https://vault.example').clearSession()).toBe(
      '__Secure-vault_dashboard=; Path=/dashboard; HttpOnly; SameSite=Strict; Secure; Max-Age=0',
    );
    expect(session('http://127.0.0.1:8080').clearSession()).toBe('vault_dashboard=; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=0');
  });

  it("keeps a browser's CSRF cookie and derives the same form token from it", () => {
    const s = session('http://127.0.0.1:8080');
    const first = s.csrf(request());
    const value = /=([^;]+)/.exec(first.setCookie!)![1];
    const again = s.csrf(request({ cookie: `other=1; vault_dashboard_csrf=${value}` }));
    expect(again).toEqual({ token: first.token });
    expect(first.token).not.toBe(value);
  });

  it('refuses a sign-in form without the matching CSRF token or from another origin, before any token check', async () => {
    const s = session('http://127.0.0.1:8080');
    const { token, setCookie } = s.csrf(request());
    const cookie = setCookie!.split(';')[0];
    const form = { 'content-type': 'application/x-www-form-urlencoded', cookie };
    await expect(s.signIn(request(form, { token: 'x', csrf: token.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }))).rejects.toMatchObject({
      code: 'forbidden',
    });
    await expect(s.signIn(request({ ...form, origin: 'https://evil.example' }, { token: 'x', csrf: token }))).rejects.toMatchObject({
      code: 'forbidden',
    });
    await expect(s.signIn(request({ ...form, 'content-type': 'application/json' }, { token: 'x', csrf: token }))).rejects.toMatchObject({
      code: 'invalid_request',
    });
    await expect(s.signIn(request(form, { token: '  ', csrf: token }))).rejects.toMatchObject({ code: 'invalid_token' });
  });
});
