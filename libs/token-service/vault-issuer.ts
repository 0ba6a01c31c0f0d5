import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { TrustedIssuerRegistry } from '../auth';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { SIGNING_ALG, TokenSigningKeys } from './signing-keys';

/** The tenant claim of the tokens the vault issues. */
export const VAULT_TENANT_CLAIM = 'tid';

/**
 * Registers the vault's own token service (issuer = VAULT_PUBLIC_URL) as a trusted issuer
 * whose keys it holds, so the release path verifies its tokens exactly like external ones.
 * Boot fails if TRUSTED_ISSUERS already names that issuer.
 */
@Injectable()
export class VaultIssuerRegistration implements OnModuleInit {
  constructor(
    private readonly registry: TrustedIssuerRegistry,
    private readonly keys: TokenSigningKeys,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
  ) {}

  onModuleInit(): void {
    this.registry.register({
      issuer: this.config.publicUrl,
      algorithms: [SIGNING_ALG],
      tenant_claim: VAULT_TENANT_CLAIM,
      getKey: (kid) => this.keys.publicKey(kid),
    });
  }
}
