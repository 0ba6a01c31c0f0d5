import { Injectable } from '@nestjs/common';
import { PgNotifications } from '../db';

/** Fired (migration 700) by every write to agents, policies and integrations; payload: the tenant, or '*' (TRUNCATE). */
export const POLICY_CHANNEL = 'vault_policy_changed';

export type PolicyChangeListener = (tenant: string) => void;

/**
 * Tells this process when another one (or any SQL) changed a tenant's agents, policies or
 * integrations: `vault_policy_changed` on the process's one LISTEN connection (PgNotifications),
 * subscribed on first use. Caches may only be trusted while `live` is true: notifications are
 * lost while the connection is down, so every listener hears '*' (drop everything) when it is
 * lost and again when it comes back.
 */
@Injectable()
export class PolicyChangeFeed {
  private readonly listeners = new Set<PolicyChangeListener>();
  private subscribed = false;

  constructor(private readonly notifications: PgNotifications) {}

  /** True while notifications are being received (starts listening on first call). */
  live(): boolean {
    if (!this.subscribed) {
      this.subscribed = true;
      this.notifications.subscribe(POLICY_CHANNEL, {
        onNotification: (payload) => this.publishLocally(payload || '*'),
        // Whatever changed while nobody listened is unknown.
        onReconnected: () => this.publishLocally('*'),
        onLost: () => this.publishLocally('*'),
      });
    }
    return this.notifications.live(POLICY_CHANNEL);
  }

  subscribe(listener: PolicyChangeListener): void {
    this.listeners.add(listener);
  }

  /** Tells the listeners of this process now (a write it made itself need not wait for the round trip). */
  publishLocally(tenant: string): void {
    for (const l of this.listeners) l(tenant);
  }
}
