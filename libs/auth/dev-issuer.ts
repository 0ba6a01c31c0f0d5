import { createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';

/**
 * A development token issuer for the embedded default, so a person can try the vault
 * without an identity provider: its key lives in the data dir and tokens are minted
 * with `npm run cli -- dev-token`. Refused under NODE_ENV=production (config). In libs/auth
 * because two apps use it: the API trusts its key, the CLI mints with it.
 */
export interface DevIssuer {
  issuer: string;
  kid: string;
  publicKey: KeyObject;
  sign(claims: Record<string, unknown>, ttlSeconds?: number): string;
}

export function devIssuerUrl(publicUrl: string): string {
  return `${publicUrl}/dev-issuer`;
}

export async function loadDevIssuer(dataDir: string, publicUrl: string): Promise<DevIssuer> {
  const file = join(dataDir, 'dev-issuer.json');
  let stored: { kid: string; pem: string };
  try {
    stored = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    stored = { kid: randomUUID(), pem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await writeFile(file, JSON.stringify(stored), { mode: 0o600 });
  }
  const privateKey = createPrivateKey(stored.pem);
  const issuer = devIssuerUrl(publicUrl);
  return {
    issuer,
    kid: stored.kid,
    publicKey: createPublicKey(privateKey),
    sign: (claims, ttlSeconds = 3600) =>
      jwt.sign({ jti: randomUUID(), ...claims }, privateKey, { algorithm: 'ES256', keyid: stored.kid, issuer, expiresIn: ttlSeconds }),
  };
}
