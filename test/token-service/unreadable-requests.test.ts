import { startTestVault, TestVault } from '../support/vault';

/**
 * The token endpoint answers the OAuth way (RFC 6749 §5.2) even when the request cannot be read
 * before any of our code runs: an OAuth client library parses `{ error, error_description }`,
 * not problem+json. Nothing is issued.
 */
describe('POST /oauth2/token with an unreadable request', () => {
  let v: TestVault;
  beforeAll(async () => {
    v = await startTestVault();
  });
  afterAll(() => v?.close());

  const post = (body: string, contentType: string) =>
    v.call('POST', '/oauth2/token', { raw: body, headers: { 'content-type': contentType } });
  const expectOAuthError = (res: Awaited<ReturnType<typeof post>>, error: string) => {
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.body).toEqual({ error, error_description: expect.any(String) });
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body.access_token).toBeUndefined();
  };

  it('malformed JSON → 400 invalid_request', async () => {
    const res = await post('{"grant_type":', 'application/json');
    expect(res.status).toBe(400);
    expectOAuthError(res, 'invalid_request');
  });

  it('a media type with no parser → invalid_request, not problem+json', async () => {
    const res = await post('grant_type=x', 'text/plain');
    expect([400, 415]).toContain(res.status);
    expectOAuthError(res, 'invalid_request');
  });

  it('an oversized form → invalid_request, not problem+json', async () => {
    const res = await post(`grant_type=${'a'.repeat(2 * 1024 * 1024)}`, 'application/x-www-form-urlencoded');
    expect([400, 413]).toContain(res.status);
    expectOAuthError(res, 'invalid_request');
  });

  it('an empty form → invalid_request naming grant_type', async () => {
    const res = await post('', 'application/x-www-form-urlencoded');
    expect(res.status).toBe(400);
    expectOAuthError(res, 'invalid_request');
  });
});
