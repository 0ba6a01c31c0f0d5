import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProviderCatalog } from '../catalog/catalog';
import type { ProviderResponse } from '../outbound/provider-http.client';
import { ProviderError } from './provider-error';
import { parseTokenResponse } from './token-response';

interface RecordedCase {
  provider: string;
  name: string;
  kind: 'code' | 'refresh';
  config?: Record<string, unknown>;
  requested?: string[];
  status: number;
  headers?: Record<string, string>;
  contentType?: string;
  body?: Record<string, unknown> & { id_token_claims?: Record<string, unknown> };
  raw?: string;
  expect: {
    error?: [string, string];
    retry_after?: number;
    access?: string;
    refresh?: string | null;
    expires_in?: number | null;
    expires_at_ms?: number;
    refresh_expires_in?: number;
    scopes?: string[];
    token_type?: string;
    metadata?: Record<string, unknown>;
    identity?: { subject: string | null; email: string | null };
  };
}

const NOW = new Date(1763799600000);
const CLIENT = 'client-123';
const catalog = new ProviderCatalog();
const dir = join(__dirname, 'recorded');
const cases: RecordedCase[] = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .flatMap((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as RecordedCase[]);

function response(c: RecordedCase): ProviderResponse {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  let text = c.raw;
  if (text === undefined) {
    const { id_token_claims, ...body } = c.body ?? {};
    text = JSON.stringify(
      id_token_claims ? { ...body, id_token: `${b64({ alg: 'RS256', kid: 'k' })}.${b64(id_token_claims)}.c2ln` } : body,
    );
  }
  return { status: c.status, headers: c.headers ?? {}, contentType: c.contentType ?? 'application/json', body: Buffer.from(text) };
}

/**
 * Per-provider contract tests: recorded token responses (success, errors with HTTP 200, rotated
 * refresh tokens, missing expires_in, Slack's authed_user) read through the real catalog entries.
 */
describe('token responses, as each catalog entry reads them', () => {
  it('covers every provider of the catalog', () => {
    const covered = new Set(cases.map((c) => c.provider));
    expect(catalog.ids().filter((id) => !covered.has(id))).toEqual([]);
  });

  /**
   * What each entry must be shown to do with real answers: a success and a failure; a successful
   * refresh where it refreshes, with a new refresh token where it always rotates; a failure with
   * HTTP 200 where the provider reports errors that way (an `ok` flag: Slack).
   */
  it.each(catalog.ids().filter((id) => id !== 'custom-oauth2'))('%s: success, failure, refresh and rotation are each recorded', (id) => {
    const entry = catalog.get(id)!;
    const of = cases.filter((c) => c.provider === id);
    const missing: string[] = [];
    const need = (what: string, found: boolean) => found || missing.push(what);
    need(
      'a success',
      of.some((c) => !c.expect.error),
    );
    need(
      'a provider error',
      of.some((c) => c.expect.error && c.status < 500),
    );
    if (entry.refresh.supported)
      need(
        'a successful refresh',
        of.some((c) => c.kind === 'refresh' && !c.expect.error),
      );
    if (entry.refresh.rotation === 'always')
      need(
        'a refresh returning a new refresh token',
        of.some((c) => c.kind === 'refresh' && !c.expect.error && typeof c.expect.refresh === 'string'),
      );
    if (entry.response.okFlag)
      need(
        'an error with HTTP 200',
        of.some((c) => c.expect.error && c.status === 200),
      );
    expect(missing).toEqual([]);
  });

  it.each(cases.map((c) => [`${c.provider}: ${c.name}`, c] as const))('%s', (_label, c) => {
    const p = catalog.resolve(c.provider, c.config ?? {}, CLIENT);
    const parse = () =>
      parseTokenResponse(response(c), {
        entry: p.entry,
        kind: c.kind,
        requestedScopes: c.requested ?? p.scopes,
        assumedLifetimeSeconds: p.assumedLifetimeSeconds,
        clientId: CLIENT,
        issuer: p.issuer,
        now: NOW,
      });
    const e = c.expect;
    if (e.error) {
      let thrown: unknown;
      try {
        parse();
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(ProviderError);
      const pe = thrown as ProviderError;
      expect([pe.errorClass, pe.code]).toEqual(e.error);
      if (e.retry_after !== undefined) expect(pe.retryAfterSeconds).toBe(e.retry_after);
      // The message names the code only: never the provider's description or the body.
      expect(pe.message).toBe(`provider error ${pe.code} (${pe.errorClass})`);
      return;
    }
    const g = parse();
    expect(g.accessToken.reveal()).toBe(e.access);
    expect(g.refreshToken?.reveal() ?? null).toBe(e.refresh);
    if (e.expires_at_ms !== undefined) expect(g.expiresAt?.getTime()).toBe(e.expires_at_ms);
    else expect(g.expiresAt === null ? null : (g.expiresAt.getTime() - NOW.getTime()) / 1000).toBe(e.expires_in);
    if (e.refresh_expires_in !== undefined) expect((g.refreshTokenExpiresAt!.getTime() - NOW.getTime()) / 1000).toBe(e.refresh_expires_in);
    expect(g.scopes).toEqual(e.scopes);
    expect(g.metadata).toEqual(e.metadata);
    if (e.token_type) expect(g.tokenType).toBe(e.token_type);
    if (e.identity) expect(g.identity).toEqual(e.identity);
    // Tokens never print.
    expect(JSON.stringify(g)).not.toContain(e.access!);
  });
});
