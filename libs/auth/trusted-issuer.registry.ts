import { KeyObject } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { ALLOWED_ALGORITHMS, JwtAlgorithm, TrustedIssuer, trustedIssuerSchema, VAULT_CONFIG, VaultConfig } from '../config';
import { asTenantId } from '../kernel';
import { inlineJwksKeySource, jwksUriKeySource, KeySource } from './issuer-keys';

/**
 * An issuer whose keys the vault holds itself (its own token service, the development
 * issuer). `getKey` must return a public key and reject for an unknown `kid`.
 */
export interface KeyHoldingIssuer {
  issuer: string;
  algorithms: JwtAlgorithm[];
  tenant_claim: string;
  default_tenant?: string;
  getKey(kid: string | undefined): Promise<KeyObject>;
}

export type IssuerRegistration = TrustedIssuer | KeyHoldingIssuer;

/** A trusted issuer as the verifier uses it. */
export interface IssuerEntry {
  readonly issuer: string;
  readonly algorithms: ReadonlySet<string>;
  readonly tenantClaim: string;
  readonly defaultTenant?: string;
  /** The `typ` header every token of this issuer must carry, if configured. */
  readonly requireTyp?: string;
  readonly keys: KeySource;
}

/**
 * The issuers whose tokens the vault accepts, keyed by exact `iss`.
 *
 * @example
 *   registry.register({ issuer: cfg.publicUrl, algorithms: ['ES256'], tenant_claim: 'tid', getKey: (kid) => signer.publicKey(kid) });
 */
@Injectable()
export class TrustedIssuerRegistry {
  private readonly entries = new Map<string, IssuerEntry>();

  constructor(@Inject(VAULT_CONFIG) config: VaultConfig) {
    for (const issuer of config.trustedIssuers) this.register(issuer);
  }

  /** Adds an issuer. Throws on a duplicate `issuer` or an algorithm outside the asymmetric allowlist. */
  register(registration: IssuerRegistration): void {
    const entry = 'getKey' in registration ? fromKeyHolder(registration) : fromConfig(registration);
    if (this.entries.has(entry.issuer)) throw new Error(`trusted issuer ${entry.issuer} is registered twice`);
    this.entries.set(entry.issuer, entry);
  }

  /** The entry for an exact `iss` value, if trusted. */
  get(issuer: string): IssuerEntry | undefined {
    return this.entries.get(issuer);
  }

  /** Every trusted `iss`, for metadata and diagnostics. */
  issuers(): string[] {
    return [...this.entries.keys()];
  }
}

function fromConfig(raw: TrustedIssuer): IssuerEntry {
  // Runtime registrations bypass loadConfig, so the schema is applied again here.
  const cfg = trustedIssuerSchema.parse(raw);
  const keys = cfg.jwks_uri ? jwksUriKeySource(cfg.issuer, cfg.jwks_uri) : inlineJwksKeySource(cfg.issuer, cfg.jwks!);
  return entry(cfg.issuer, cfg.algorithms, cfg.tenant_claim, cfg.default_tenant, keys, cfg.require_typ);
}

function fromKeyHolder(reg: KeyHoldingIssuer): IssuerEntry {
  if (typeof reg.issuer !== 'string' || reg.issuer.length === 0) throw new Error('issuer is required');
  if (typeof reg.tenant_claim !== 'string' || reg.tenant_claim.length === 0) throw new Error(`tenant_claim is required for ${reg.issuer}`);
  const bad = reg.algorithms.filter((a) => !(ALLOWED_ALGORITHMS as readonly string[]).includes(a));
  if (reg.algorithms.length === 0 || bad.length) throw new Error(`issuer ${reg.issuer} needs asymmetric algorithms only`);
  const getKey = reg.getKey.bind(reg);
  return entry(reg.issuer, reg.algorithms, reg.tenant_claim, reg.default_tenant, async (kid) => ({ key: await getKey(kid) }));
}

function entry(
  issuer: string,
  algorithms: readonly string[],
  tenantClaim: string,
  defaultTenant: string | undefined,
  keys: KeySource,
  requireTyp?: string,
): IssuerEntry {
  if (defaultTenant !== undefined) {
    try {
      asTenantId(defaultTenant);
    } catch {
      throw new Error(`default_tenant of issuer ${issuer} is not a valid tenant id`);
    }
  }
  return Object.freeze({
    issuer,
    algorithms: new Set(algorithms),
    tenantClaim,
    defaultTenant,
    keys,
    ...(requireTyp ? { requireTyp } : {}),
  });
}
