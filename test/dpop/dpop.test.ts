import { TOKEN_EXCHANGE_GRANT, TOKEN_TYPES } from '../../libs/token-service';
import { basic, form, RevocationWorld, startRevocationWorld, vaultToken } from '../revocation/support';
import { TestVault } from '../support/vault';
import { DpopKey, RELEASE_PATH } from './support';

/**
 * Issue 18 §5, RFC 9449: an agent registered `dpop_bound` gets tokens bound to its DPoP key
 * (`cnf.jkt`, `token_type: DPoP`); the release route then takes them only with the DPoP scheme and
 * a fresh proof for that request by that key. Every refusal is a 401 with the RFC's error code in
 * a `WWW-Authenticate: DPoP` challenge.
 */
describe('DPoP-bound vault tokens', () => {
  let w: RevocationWorld;
  let key: DpopKey;
  beforeAll(async () => {
    w = await startRevocationWorld({ 'mcp-d': { dpop_bound: true } });
    key = await DpopKey.create();
  });
  afterAll(() => w?.close());

  const exchange = (agent: string, headers: Record<string, string> = {}) =>
    form(
      w.v,
      '/oauth2/token',
      {
        grant_type: TOKEN_EXCHANGE_GRANT,
        subject_token: w.user('alice'),
        subject_token_type: TOKEN_TYPES.accessToken,
        scope: 'connections:openai',
      },
      { ...basic(agent, w.secrets[agent]), ...headers },
    );
  const boundToken = async (k = key) => {
    const res = await exchange('mcp-d', { dpop: await k.proof('POST', '/oauth2/token') });
    expect(res.status).toBe(200);
    return res.body;
  };
  const releaseWith = (v: TestVault, token: string, proof: string | undefined, scheme = 'DPoP') =>
    v.call('POST', RELEASE_PATH, { headers: { authorization: `${scheme} ${token}`, ...(proof !== undefined ? { dpop: proof } : {}) } });
  const payloadOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

  it('issues a DPoP token bound to the proof key, and releases with a proof for the request', async () => {
    const body = await boundToken();
    expect(body.token_type).toBe('DPoP');
    expect(payloadOf(body.access_token).cnf).toEqual({ jkt: key.jkt });
    const res = await releaseWith(w.v, body.access_token, await key.proof('POST', RELEASE_PATH, body.access_token));
    expect(res.status).toBe(200);
    expect(res.body.api_key).toBe('sk-alice-canary');
    const [event] = await w.v.db.ds.query(
      `SELECT details FROM vault.audit_events WHERE action = 'token.exchange' AND outcome = 'allowed' ORDER BY seq DESC LIMIT 1`,
    );
    expect(event.details.dpop_jkt).toBe(key.jkt);
    const introspected = await form(w.v, '/oauth2/introspect', { token: body.access_token }, basic('mcp-d', w.secrets['mcp-d']));
    expect(introspected.body).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: key.jkt } });
  });

  it('a dpop_bound agent without a proof, or with a bad one, gets no token (400 invalid_dpop_proof)', async () => {
    const none = await exchange('mcp-d');
    expect(none.status).toBe(400);
    expect(none.body).toEqual({
      error: 'invalid_dpop_proof',
      error_description: 'this client is registered dpop_bound: send a DPoP proof',
    });
    const elsewhere = await exchange('mcp-d', { dpop: await key.proof('POST', '/oauth2/other') });
    expect(elsewhere.body).toMatchObject({ error: 'invalid_dpop_proof', error_description: expect.stringContaining('htu') });
    const proof = await key.proof('POST', '/oauth2/token');
    expect((await exchange('mcp-d', { dpop: proof })).status).toBe(200);
    expect((await exchange('mcp-d', { dpop: proof })).body).toMatchObject({
      error: 'invalid_dpop_proof',
      error_description: expect.stringContaining('already used'),
    });
  });

  it('an agent that is not dpop_bound gets a bound token when it sends a proof, a Bearer token otherwise', async () => {
    const bound = await exchange('mcp-1', { dpop: await key.proof('POST', '/oauth2/token') });
    expect(bound.body.token_type).toBe('DPoP');
    const plain = await exchange('mcp-1');
    expect(plain.body.token_type).toBe('Bearer');
    // An unbound token with the DPoP scheme is refused: it is not what the scheme says.
    const res = await releaseWith(w.v, plain.body.access_token, await key.proof('POST', RELEASE_PATH, plain.body.access_token));
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('invalid_token');
    expect(res.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token"/);
  });

  describe('refusals on release (401, WWW-Authenticate: DPoP)', () => {
    let token: string;
    beforeAll(async () => {
      token = (await boundToken()).access_token;
    });
    const refused = async (res: { status: number; body: any; headers: Headers }, code: string, detail: RegExp) => {
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ code, detail: expect.stringMatching(detail) });
      const challenge = res.headers.get('www-authenticate') ?? '';
      expect(challenge).toMatch(
        new RegExp(
          `^DPoP error="${code}", error_description="[^"]+", algs="[A-Z0-9 ]+", resource_metadata="https://vault.test.example/.well-known/oauth-protected-resource"$`,
        ),
      );
      expect(challenge).toContain('ES256');
    };

    it('the bound token as Bearer', async () => {
      await refused(await releaseWith(w.v, token, undefined, 'Bearer'), 'invalid_token', /DPoP-bound/);
    });
    it('no proof', async () => {
      await refused(await releaseWith(w.v, token, undefined), 'invalid_dpop_proof', /DPoP proof .* is required/);
    });
    it('a proof for another URL or method', async () => {
      await refused(
        await releaseWith(w.v, token, await key.proof('POST', '/v1/connections/github/token', token)),
        'invalid_dpop_proof',
        /htu/,
      );
      await refused(await releaseWith(w.v, token, await key.proof('GET', RELEASE_PATH, token)), 'invalid_dpop_proof', /htm/);
    });
    it('a replayed proof (same jti)', async () => {
      const proof = await key.proof('POST', RELEASE_PATH, token);
      expect((await releaseWith(w.v, token, proof)).status).toBe(200);
      await refused(await releaseWith(w.v, token, proof), 'invalid_dpop_proof', /already used/);
    });
    it('iat out of the window, in the past or the future', async () => {
      const now = Math.floor(Date.now() / 1000);
      await refused(
        await releaseWith(w.v, token, await key.proof('POST', RELEASE_PATH, token, { claims: { iat: now - 600 } })),
        'invalid_dpop_proof',
        /iat/,
      );
      await refused(
        await releaseWith(w.v, token, await key.proof('POST', RELEASE_PATH, token, { claims: { iat: now + 600 } })),
        'invalid_dpop_proof',
        /iat/,
      );
    });
    it('no ath, or the hash of another token', async () => {
      await refused(await releaseWith(w.v, token, await key.proof('POST', RELEASE_PATH)), 'invalid_dpop_proof', /ath/);
      await refused(await releaseWith(w.v, token, await key.proof('POST', RELEASE_PATH, token + 'x')), 'invalid_dpop_proof', /ath/);
    });
    it('a proof by another key, a proof without typ dpop+jwt, a malformed proof', async () => {
      const other = await DpopKey.create();
      await refused(await releaseWith(w.v, token, await other.proof('POST', RELEASE_PATH, token)), 'invalid_dpop_proof', /another key/);
      await refused(
        await releaseWith(w.v, token, await key.proof('POST', RELEASE_PATH, token, { header: { typ: 'JWT' } })),
        'invalid_dpop_proof',
        /typ/,
      );
      await refused(await releaseWith(w.v, token, 'not.a.proof'), 'invalid_dpop_proof', /malformed/);
      await refused(
        await releaseWith(w.v, token, await key.proof('POST', RELEASE_PATH, token, { header: { jwk: undefined } })),
        'invalid_dpop_proof',
        /public jwk/,
      );
    });
    it('every refusal is audited like other token refusals', async () => {
      const [event] = await w.v.db.ds.query(
        `SELECT outcome, reason, agent, details FROM vault.audit_events WHERE action = 'credential.release' ORDER BY seq DESC LIMIT 1`,
      );
      expect(event).toMatchObject({ outcome: 'denied', reason: 'invalid_dpop_proof', agent: 'mcp-d' });
    });
  });

  it('a proof replayed to another API process is refused there too (shared jti store)', async () => {
    const second = await w.replica();
    const token = (await boundToken()).access_token;
    const proof = await key.proof('POST', RELEASE_PATH, token);
    expect((await releaseWith(w.v, token, proof)).status).toBe(200);
    const res = await releaseWith(second, token, proof);
    expect(res.status).toBe(401);
    expect(res.body.detail).toMatch(/already used/);

    // Concurrent releases share one jti insert per event-loop turn: distinct proofs all pass...
    const proofs = await Promise.all(Array.from({ length: 20 }, () => key.proof('POST', RELEASE_PATH, token)));
    const answers = await Promise.all(proofs.map((p, i) => releaseWith(i % 2 ? second : w.v, token, p)));
    expect(answers.map((a) => a.status)).toEqual(proofs.map(() => 200));
    // ...and one proof sent to both processes at once is accepted by exactly one of them.
    const raced = await key.proof('POST', RELEASE_PATH, token);
    const both = await Promise.all([releaseWith(w.v, token, raced), releaseWith(second, token, raced)]);
    expect(both.map((a) => a.status).sort()).toEqual([200, 401]);
  });

  it('a revoked DPoP token is refused even with a valid proof', async () => {
    const token = await vaultToken(w, 'mcp-d', 'alice', { dpop: await key.proof('POST', '/oauth2/token') });
    expect((await form(w.v, '/oauth2/revoke', { token }, basic('mcp-d', w.secrets['mcp-d']))).status).toBe(200);
    const res = await releaseWith(w.v, token, await key.proof('POST', RELEASE_PATH, token));
    expect(res.body).toMatchObject({ code: 'invalid_token', reason: 'revoked' });
  });
});
