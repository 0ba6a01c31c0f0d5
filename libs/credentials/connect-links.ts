import type { TenantId } from '../kernel';

/**
 * A port the release path uses to offer a `connect_url` (404 `connection_not_found`, 409
 * `needs_reauth`) once policy has allowed the agent this integration for this user. The connect
 * context implements it; the app binds it globally. Without a binding no URL is offered.
 */
export interface ConnectLinkIssuer {
  linkFor(request: { tenant: TenantId; subject: string; integration: string; agent: string }): Promise<{ url: string; expiresAt: Date } | null>;
}

export const CONNECT_LINKS = Symbol('CONNECT_LINKS');
