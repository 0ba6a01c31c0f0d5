import { generateKeyPairSync, KeyObject, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';

/** A real RS256 token issuer for tests, published to the vault as an inline JWKS. */
export class TestIssuer {
  readonly kid = randomUUID();
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;

  constructor(
    readonly issuer = 'https://sts.test.example',
    readonly audience = 'https://vault.test.example',
  ) {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.privateKey = pair.privateKey;
    this.publicKey = pair.publicKey;
  }

  /** The TRUSTED_ISSUERS entry for this issuer. */
  config(extra: Record<string, unknown> = {}) {
    return {
      issuer: this.issuer,
      jwks: { keys: [{ ...this.publicKey.export({ format: 'jwk' }), kid: this.kid, use: 'sig', alg: 'RS256' }] },
      algorithms: ['RS256'],
      ...extra,
    };
  }

  sign(claims: Record<string, unknown>, opts: { ttl?: number; kid?: string } = {}): string {
    const now = Math.floor(Date.now() / 1000);
    return jwt.sign(
      { iss: this.issuer, aud: this.audience, iat: now, exp: now + (opts.ttl ?? 300), jti: randomUUID(), ...claims },
      this.privateKey,
      {
        algorithm: 'RS256',
        keyid: opts.kid ?? this.kid,
      },
    );
  }

  adminToken(tenant: string): string {
    return this.sign({ sub: 'admin@' + tenant, tid: tenant, scope: 'vault:admin' });
  }

  /** An exchanged token: user as subject, agent as actor, with `connections:<integration>` scopes. */
  agentToken(o: { tenant: string; user: string; agent: string; integrations: string[]; claims?: Record<string, unknown> }): string {
    return this.sign({
      sub: o.user,
      tid: o.tenant,
      act: { sub: o.agent },
      scope: o.integrations.map((i) => `connections:${i}`).join(' '),
      ...o.claims,
    });
  }
}
