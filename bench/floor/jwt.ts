/**
 * The floor's token check: RS256/ES256 with node:crypto against the issuer's key, the same
 * claims the vault checks (iss, aud, exp/nbf with skew, sub, tenant, act.sub), verified
 * claims cached by raw token until `exp` (bounded, like the vault's VerifiedTokenCache).
 */
import { createPublicKey, KeyObject, verify } from 'node:crypto';

export interface FloorClaims {
  tenant: string;
  subject: string;
  agent: string;
  scopes: string[];
  jti: string | null;
  exp: number;
}

export interface FloorIssuer {
  issuer: string;
  audience: string;
  jwk: Record<string, unknown> & { kid?: string; alg?: string };
  skewSeconds: number;
}

const MAX_ENTRIES = 10_000;

export class FloorVerifier {
  private readonly key: KeyObject;
  private readonly cache = new Map<string, FloorClaims>();

  constructor(private readonly opts: FloorIssuer) {
    this.key = createPublicKey({ key: opts.jwk as any, format: 'jwk' });
  }

  /** The verified claims, or undefined for any token the vault would refuse with 401. */
  verify(raw: string): FloorClaims | undefined {
    const now = Math.floor(Date.now() / 1000);
    const hit = this.cache.get(raw);
    if (hit) {
      if (hit.exp + this.opts.skewSeconds > now) return hit;
      this.cache.delete(raw);
    }
    const claims = this.check(raw, now);
    if (!claims) return undefined;
    if (this.cache.size >= MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(raw, claims);
    return claims;
  }

  private check(raw: string, now: number): FloorClaims | undefined {
    if (raw.length > 16 * 1024) return undefined;
    const parts = raw.split('.');
    if (parts.length !== 3) return undefined;
    let header: any;
    let p: any;
    try {
      header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
      p = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    if (header?.kid !== this.opts.jwk.kid) return undefined;
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
    const signature = Buffer.from(parts[2], 'base64url');
    const ok =
      header.alg === 'RS256'
        ? verify('sha256', signed, this.key, signature)
        : header.alg === 'ES256'
          ? verify('sha256', signed, { key: this.key, dsaEncoding: 'ieee-p1363' }, signature)
          : false;
    if (!ok) return undefined;
    const skew = this.opts.skewSeconds;
    const aud = Array.isArray(p.aud) ? p.aud : [p.aud];
    if (p.iss !== this.opts.issuer || !aud.includes(this.opts.audience)) return undefined;
    if (typeof p.exp !== 'number' || p.exp + skew <= now || (typeof p.nbf === 'number' && p.nbf - skew > now)) return undefined;
    if (typeof p.sub !== 'string' || typeof p.tid !== 'string' || typeof p.act?.sub !== 'string') return undefined;
    const scopes = typeof p.scope === 'string' ? p.scope.split(' ').filter(Boolean) : [];
    return { tenant: p.tid, subject: p.sub, agent: p.act.sub, scopes, jti: typeof p.jti === 'string' ? p.jti : null, exp: p.exp };
  }
}
