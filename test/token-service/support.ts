import { generateKeyPairSync, KeyObject, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { TrustedIssuerRegistry } from '../../libs/auth';
import { TOKEN_EXCHANGE_GRANT, TOKEN_TYPES } from '../../libs/token-service';
import { IdpUser, TestIdp } from '../support/oidc/idp';
import { startTestVault, TestVault } from '../support/vault';

export const AUDIENCE = 'https://vault.test.example';
export const TOKEN_ENDPOINT = `${AUDIENCE}/oauth2/token`;
export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const TENANT = 'acme';

export interface TokenServiceWorld {
  v: TestVault;
  idp: TestIdp;
  admin(): string;
  close(): Promise<void>;
}

/**
 * The real vault on a fresh database, plus a real OpenID provider (oidc-provider, its own
 * process) trusted through a jwks_uri. The provider is registered at runtime because
 * startTestVault's TRUSTED_ISSUERS already holds the test issuer admin tokens come from.
 */
export async function startWorld(users: Record<string, IdpUser>, env: Record<string, string> = {}): Promise<TokenServiceWorld> {
  const [v, idp] = await Promise.all([startTestVault(env), TestIdp.start({ audience: AUDIENCE, users, shortTtlSeconds: 1 })]);
  v.vault.app.get(TrustedIssuerRegistry).register(idp.trustedIssuer());
  return {
    v,
    idp,
    admin: () => v.issuer.adminToken(TENANT),
    async close() {
      await Promise.all([v.close(), idp.close()]);
    },
  };
}

/** PUT an admin resource and expect it to be created or replaced. */
export async function put(w: TokenServiceWorld, path: string, body: unknown): Promise<any> {
  const res = await w.v.call('PUT', path, { token: w.admin(), body });
  if (res.status !== 200 && res.status !== 201) throw new Error(`PUT ${path} → ${res.status} ${res.text}`);
  return res.body;
}

export interface ExchangeResult {
  status: number;
  body: any;
  headers: Headers;
}

/** POST /oauth2/token, form-encoded, as an agent would. */
export async function exchange(
  w: TokenServiceWorld,
  params: Record<string, string | string[] | undefined>,
  headers: Record<string, string> = {},
): Promise<ExchangeResult> {
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) form.append(k, one);
  }
  const res = await fetch(`${w.v.url}/oauth2/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: form.toString(),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/** The token-exchange parameters for a subject token and scopes. */
export function exchangeParams(subjectToken: string, scope: string, extra: Record<string, string | string[] | undefined> = {}) {
  return { grant_type: TOKEN_EXCHANGE_GRANT, subject_token: subjectToken, subject_token_type: TOKEN_TYPES.accessToken, scope, ...extra };
}

export function basic(clientId: string, secret: string): Record<string, string> {
  const enc = (s: string) => encodeURIComponent(s);
  return { authorization: `Basic ${Buffer.from(`${enc(clientId)}:${enc(secret)}`).toString('base64')}` };
}

export function decode(token: string): { header: Record<string, any>; payload: Record<string, any> } {
  const [h, p] = token.split('.');
  return { header: JSON.parse(Buffer.from(h, 'base64url').toString()), payload: JSON.parse(Buffer.from(p, 'base64url').toString()) };
}

/** An agent's key pair for private_key_jwt, and the assertions it signs. */
export class AgentKey {
  readonly kid = randomUUID();
  readonly privateKey: KeyObject;
  readonly publicJwk: Record<string, unknown>;

  constructor() {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.privateKey = pair.privateKey;
    this.publicJwk = { ...pair.publicKey.export({ format: 'jwk' }), kid: this.kid, use: 'sig', alg: 'ES256' };
  }

  assertion(clientId: string, claims: Record<string, unknown> = {}): string {
    const now = Math.floor(Date.now() / 1000);
    return jwt.sign(
      { iss: clientId, sub: clientId, aud: TOKEN_ENDPOINT, jti: randomUUID(), iat: now, exp: now + 60, ...claims },
      this.privateKey,
      { algorithm: 'ES256', keyid: this.kid },
    );
  }
}

/** Audit events of the tenant for one action, newest first, straight from the table. */
export async function auditEvents(
  w: TokenServiceWorld,
  tenant = TENANT,
): Promise<Array<{ outcome: string; reason: string | null; agent: string | null; subject: string | null; details: any }>> {
  return w.v.db.ds.query(
    `SELECT outcome, reason, agent, subject, details FROM vault.audit_events WHERE tenant = $1 AND ` +
      `action = 'token.exchange' ORDER BY seq DESC`,
    [tenant],
  );
}
