import { Inject, Injectable } from '@nestjs/common';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { DomainError } from '../kernel';
import { AUDIENCE_REFUSED, invalidToken, toInvalidToken } from './auth-errors';
import { resolveSigningKey } from './signing-key';
import { IssuerEntry, TrustedIssuerRegistry } from './trusted-issuer.registry';
import { VaultJwtStrategy, authenticateToken } from './vault-jwt.strategy';
import { toVerifiedToken, VerifiedToken } from './verified-token';
import { VerifiedTokenCache } from './verified-token.cache';
import { MAX_TOKEN_LENGTH } from './unverified-jwt';

/**
 * Verifies bearer tokens from trusted issuers: issuer by `iss`, `alg` in that issuer's
 * allowlist, key by `kid` from its JWKS, signature, `aud` ∋ the vault's audience,
 * `exp`/`nbf` within the configured skew, tenant from the issuer's tenant claim.
 *
 * @example
 *   const token = await verifier.verify(raw); // throws DomainError('invalid_token', ...)
 *   token.agent; // outermost act.sub, if any
 */
@Injectable()
export class TokenVerifier {
  private readonly strategy: VaultJwtStrategy;
  /** Every check but the audience: for `verifyAudienceLater` only, never cached. */
  private readonly anyAudience: VaultJwtStrategy;
  private readonly cache = new VerifiedTokenCache();
  private readonly statusChecks: Array<(token: VerifiedToken) => void> = [];

  constructor(@Inject(VAULT_CONFIG) config: VaultConfig, registry: TrustedIssuerRegistry) {
    const skew = config.clockSkewSeconds;
    const options = (audience: string | undefined) => ({
      audience,
      clockSkewSeconds: skew,
      resolveKey: (raw: string) => resolveSigningKey(registry, raw),
      accept: (payload: Record<string, unknown>, issuer: IssuerEntry) =>
        toVerifiedToken(payload, issuer, Math.floor(Date.now() / 1000), skew, config.maxExternalTokenLifetimeSeconds),
    });
    this.strategy = new VaultJwtStrategy(options(config.audience));
    this.anyAudience = new VaultJwtStrategy(options(undefined));
  }

  /**
   * A check run on every token after verification, cached or not (the token service's revocation
   * list): it throws a `DomainError` to refuse. In memory only: it runs on every release.
   */
  addStatusCheck(check: (token: VerifiedToken) => void): void {
    this.statusChecks.push(check);
  }

  /** Resolves to the verified token, or rejects with `DomainError('invalid_token', reason)` (also when it is revoked). */
  async verify(raw: string): Promise<VerifiedToken> {
    const token = await this.verifyClaims(raw);
    this.checkStatus(token);
    return token;
  }

  /** The status checks alone (revocation), for a caller that wants the verified token even when it is refused. */
  checkStatus(token: VerifiedToken): void {
    for (let i = 0; i < this.statusChecks.length; i++) this.statusChecks[i](token);
  }

  /** `verifyClaims`' answer when it would come from the cache (a token verified before and not yet expired), without a promise. */
  cachedClaims(raw: string): VerifiedToken | undefined {
    return typeof raw === 'string' && raw.length > 0 && raw.length <= MAX_TOKEN_LENGTH ? this.cache.get(raw) : undefined;
  }

  /** Signature, issuer, audience, lifetime and claims, without the status checks (`checkStatus`). */
  async verifyClaims(raw: string): Promise<VerifiedToken> {
    if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_TOKEN_LENGTH) throw invalidToken('token is malformed');
    const cached = this.cache.get(raw);
    if (cached) return cached;
    let token: VerifiedToken;
    try {
      token = await authenticateToken(this.strategy, raw);
    } catch (err) {
      throw toInvalidToken(err);
    }
    this.cache.set(raw, token);
    return token;
  }

  /**
   * For the token endpoint, where a subject token may be for another audience the authenticated
   * agent accepts (an MCP server's): `forVault` when `verify` accepts it; otherwise, when the
   * audience is its only fault, the token with `forVault: false` and its `aud` values, which the
   * caller MUST check before using anything of it. Other faults reject as `verify` does.
   */
  async verifyAudienceLater(raw: string): Promise<{ token: VerifiedToken; forVault: boolean; audiences: string[] }> {
    try {
      return { token: await this.verify(raw), forVault: true, audiences: [] };
    } catch (err) {
      if (!(err instanceof DomainError && err.detail === AUDIENCE_REFUSED)) throw err;
    }
    let token: VerifiedToken;
    try {
      token = await authenticateToken(this.anyAudience, raw);
    } catch (err) {
      throw toInvalidToken(err);
    }
    const aud = token.claims.aud;
    const audiences = (typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : []).filter((a): a is string => typeof a === 'string');
    return { token, forVault: false, audiences };
  }
}
