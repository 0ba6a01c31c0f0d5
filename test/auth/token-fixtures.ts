/**
 * Test support for libs/auth specs: real keys (node:crypto), tokens signed with
 * jsonwebtoken or crafted by hand, and real local HTTP servers that count requests.
 */
import { createHmac, generateKeyPairSync, KeyObject, randomUUID, sign as cryptoSign } from 'node:crypto';
import { createServer, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import jwt from 'jsonwebtoken';
import { loadConfig, VaultConfig } from '../../libs/config';

export const AUDIENCE = 'https://vault.test';
export const SKEW = 30;

export interface TestKey {
  kid: string;
  alg: jwt.Algorithm;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Public JWK with `kid` (and `alg` when asked for). */
  jwk: Record<string, unknown>;
}

export function rsaKey(kid: string = randomUUID(), alg: jwt.Algorithm = 'RS256', withAlgInJwk = false): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return keyOf(kid, alg, privateKey, publicKey, withAlgInJwk);
}

export function ecKey(kid: string = randomUUID()): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return keyOf(kid, 'ES256', privateKey, publicKey, false);
}

function keyOf(kid: string, alg: jwt.Algorithm, privateKey: KeyObject, publicKey: KeyObject, withAlg: boolean): TestKey {
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', ...(withAlg ? { alg } : {}) };
  return { kid, alg, privateKey, publicKey, jwk };
}

export const now = () => Math.floor(Date.now() / 1000);

/** A well-formed agent token for `issuer`; override any claim (undefined deletes it). */
export function claims(issuer: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base: Record<string, unknown> = {
    iss: issuer,
    aud: [AUDIENCE, 'https://other.example'],
    sub: 'user-1',
    tid: 'acme',
    act: { sub: 'agent-1' },
    scope: 'connections:github connections:slack',
    iat: now(),
    exp: now() + 300,
    jti: randomUUID(),
  };
  const merged: Record<string, unknown> = { ...base, ...overrides };
  for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
  return merged;
}

/** Signs with jsonwebtoken; `header` adds parameters (jku, x5u, ...) to the protected header. */
export function sign(key: TestKey, payload: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  return jwt.sign(payload, key.privateKey, { algorithm: key.alg, header: { alg: key.alg, kid: key.kid, ...header } as jwt.JwtHeader });
}

export const b64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A compact JWS assembled by hand: for tokens no library would sign. */
export function craft(header: Record<string, unknown>, payload: Record<string, unknown>, signature = ''): string {
  return `${b64url(header)}.${b64url(payload)}.${signature}`;
}

/** RS256 computed by hand, for payloads jsonwebtoken refuses to sign (e.g. a string `exp`). */
export function rs256ByHand(key: TestKey, header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const input = `${b64url({ alg: 'RS256', kid: key.kid, ...header })}.${b64url(payload)}`;
  return `${input}.${cryptoSign('sha256', Buffer.from(input), key.privateKey).toString('base64url')}`;
}

/** HS256 over header.payload with an arbitrary HMAC secret (e.g. the issuer's public key PEM). */
export function hs256(header: Record<string, unknown>, payload: Record<string, unknown>, secret: Buffer | string): string {
  const input = `${b64url({ ...header, alg: 'HS256' })}.${b64url(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

export interface CountingServer {
  url: string;
  requests: string[];
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1:0 that serves `body` as JSON and records every request path. */
export function jsonServer(body: () => unknown): Promise<CountingServer> {
  return countingServer((res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body())));
}

/** A real HTTP server on 127.0.0.1:0 answering with `respond`, recording every request path. */
export async function countingServer(respond: (res: ServerResponse) => void): Promise<CountingServer> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? '');
    respond(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A VaultConfig through the real `loadConfig`, with the given TRUSTED_ISSUERS. */
export function testConfig(issuers: unknown[], env: Record<string, string> = {}): VaultConfig {
  return loadConfig({
    NODE_ENV: 'test',
    VAULT_AUDIENCE: AUDIENCE,
    VAULT_CLOCK_SKEW_SECONDS: String(SKEW),
    TRUSTED_ISSUERS: JSON.stringify(issuers),
    ...env,
  });
}

/** Runs `fn` and returns the DomainError-like rejection it produced (fails if it resolved). */
export async function rejectionOf(fn: () => Promise<unknown>): Promise<{ code: string; status: number; detail: string; message: string }> {
  try {
    await fn();
  } catch (err) {
    return err as { code: string; status: number; detail: string; message: string };
  }
  throw new Error('expected a rejection');
}
