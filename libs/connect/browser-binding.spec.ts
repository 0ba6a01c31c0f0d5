import { checkCsrf, cookieName, csrfToken, matchesBrowser, newBrowserSecret, sessionCookies, setCookieHeader } from './browser-binding';

describe('browser binding and CSRF tokens', () => {
  const id = '0f8fad5b-d9cb-469f-a165-70867728950e';

  it('a cookie secret matches only its own hash; CSRF tokens are per session and per secret', () => {
    const a = newBrowserSecret();
    const b = newBrowserSecret();
    expect(a.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(matchesBrowser(a.secret, a.hash)).toBe(true);
    expect(matchesBrowser(b.secret, a.hash)).toBe(false);
    expect(matchesBrowser(undefined, a.hash)).toBe(false);
    expect(matchesBrowser(a.secret, null)).toBe(false);
    const t = csrfToken(a.secret, id);
    expect(checkCsrf(a.secret, id, t)).toBe(true);
    expect(checkCsrf(b.secret, id, t)).toBe(false);
    expect(checkCsrf(a.secret, '1f8fad5b-d9cb-469f-a165-70867728950e', t)).toBe(false);
    for (const bad of [undefined, '', t.slice(1), `${t}x`, ['x'], 42]) expect(checkCsrf(a.secret, id, bad)).toBe(false);
  });

  it('cookies: __Host- and Secure under https, HttpOnly and SameSite=Lax always; only well-formed session cookies are read', () => {
    expect(setCookieHeader(id, 's'.repeat(43), 1800, true)).toBe(
      `__Host-vault_cs_0f8fad5bd9cb469fa16570867728950e=${'s'.repeat(43)}; Path=/; Max-Age=1800; HttpOnly; SameSite=Lax; Secure`,
    );
    expect(cookieName(id, false)).toBe('vault_cs_0f8fad5bd9cb469fa16570867728950e');
    const v = 'v'.repeat(43);
    const jar = sessionCookies(
      `other=1; __Host-vault_cs_0f8fad5bd9cb469fa16570867728950e=${v}; vault_cs_zz=${v}; vault_cs_0f8fad5bd9cb469fa16570867728950f=short`,
    );
    expect([...jar]).toEqual([[id, v]]);
    expect(sessionCookies(undefined).size).toBe(0);
  });
});
