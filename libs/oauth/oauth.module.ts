import { Module } from '@nestjs/common';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { ProviderCatalog } from './catalog/catalog';
import { OutboundPolicy } from './outbound/address-policy';
import { ProviderHttpClient } from './outbound/provider-http.client';
import { OAuthClient } from './protocol/oauth-client';

/**
 * The provider catalog (validated when built: a bad entry stops the boot), the outbound policy
 * from `OUTBOUND_ALLOW_HOSTS`, the one provider HTTP client and the OAuth client on top of it.
 * Needs the global `VAULT_CONFIG`.
 */
@Module({
  providers: [
    { provide: ProviderCatalog, useFactory: () => new ProviderCatalog() },
    { provide: OutboundPolicy, inject: [VAULT_CONFIG], useFactory: (c: VaultConfig) => new OutboundPolicy(c.outbound.allowHosts) },
    {
      provide: ProviderHttpClient,
      inject: [OutboundPolicy, VAULT_CONFIG],
      useFactory: (p: OutboundPolicy, c: VaultConfig) => new ProviderHttpClient(p, { timeoutMs: c.outbound.timeoutMs }),
    },
    { provide: OAuthClient, inject: [ProviderHttpClient], useFactory: (h: ProviderHttpClient) => new OAuthClient(h) },
  ],
  exports: [ProviderCatalog, OutboundPolicy, ProviderHttpClient, OAuthClient],
})
export class OAuthModule {}
