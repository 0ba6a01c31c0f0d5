import { Global, Module } from '@nestjs/common';
import type { TenantId } from '../kernel';

/**
 * A port the release path uses to offer a `connect_url` (404 `connection_not_found`, 409
 * `needs_reauth`) once policy has allowed the agent this integration for this user. The connect
 * context implements it; the API binds it globally. Required: a process without the connect
 * pages (worker, CLI) binds `NoConnectLinks` instead, so no module forgets it unnoticed.
 */
export interface ConnectLinkIssuer {
  linkFor(request: {
    tenant: TenantId;
    subject: string;
    integration: string;
    agent: string;
  }): Promise<{ url: string; expiresAt: Date } | null>;
}

export const CONNECT_LINKS = Symbol('CONNECT_LINKS');

/** No `connect_url` is offered: the refusal stands alone. For processes that serve no consent pages. */
export class NoConnectLinks implements ConnectLinkIssuer {
  async linkFor(): Promise<null> {
    return null;
  }
}

/** Binds `NoConnectLinks` globally (the worker, the CLI). */
@Global()
@Module({ providers: [{ provide: CONNECT_LINKS, useClass: NoConnectLinks }], exports: [CONNECT_LINKS] })
export class NoConnectLinksModule {}
