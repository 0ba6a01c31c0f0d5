import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import type { PoolClient } from 'pg';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';

/** Fired (migration 700) by every write to agents, policies and integrations; payload: the tenant, or '*' (TRUNCATE). */
export const POLICY_CHANNEL = 'vault_policy_changed';
const RETRY_MS = 1000;

export type PolicyChangeListener = (tenant: string) => void;

/**
 * Tells this process when another one (or any SQL) changed a tenant's agents, policies or
 * integrations: one pooled connection LISTENs on `vault_policy_changed`, opened on first use.
 * Caches may only be trusted while `live` is true: notifications are lost while the connection
 * is down, so every listener hears '*' (drop everything) when it comes back.
 */
@Injectable()
export class PolicyChangeFeed implements OnApplicationShutdown {
  private readonly log = new Logger('PolicyChangeFeed');
  private readonly listeners = new Set<PolicyChangeListener>();
  private client?: PoolClient;
  private release?: (err?: Error) => void;
  private connecting?: Promise<void>;
  private retryAt = 0;
  private closed = false;
  /** One warning per outage, not one per retry. */
  private warned = false;

  constructor(private readonly ds: DataSource) {}

  /** True while notifications are being received (starts listening on first call). */
  live(): boolean {
    if (this.client) return true;
    if (!this.connecting && !this.closed && Date.now() >= this.retryAt)
      this.connecting = this.connect().finally(() => (this.connecting = undefined));
    return false;
  }

  subscribe(listener: PolicyChangeListener): void {
    this.listeners.add(listener);
  }

  /** Tells the listeners of this process now (a write it made itself need not wait for the round trip). */
  publishLocally(tenant: string): void {
    for (const l of this.listeners) l(tenant);
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    await this.connecting;
    this.drop();
  }

  private async connect(): Promise<void> {
    let client: PoolClient | undefined;
    let release: ((err?: Error) => void) | undefined;
    try {
      [client, release] = (await (this.ds.driver as PostgresDriver).obtainMasterConnection()) as [PoolClient, (err?: Error) => void];
      client.on('notification', (n) => n.channel === POLICY_CHANNEL && this.publishLocally(n.payload || '*'));
      client.on('error', () => this.lost(client!));
      client.on('end', () => this.lost(client!));
      await client.query(`LISTEN ${POLICY_CHANNEL}`);
      if (this.closed) throw new Error('closed');
      this.client = client;
      this.release = release;
      this.warned = false;
      // Whatever changed while nobody listened is unknown.
      this.publishLocally('*');
    } catch (err) {
      this.retryAt = Date.now() + RETRY_MS;
      client?.removeAllListeners('notification');
      client?.on('error', () => undefined);
      release?.(err instanceof Error ? err : new Error('listen failed'));
      if (!this.closed && !this.warned)
        this.log.warn(
          `policy change feed unavailable (${err instanceof Error ? err.name : 'error'}); policies are read from the database until it is back`,
        );
      this.warned = true;
    }
  }

  private lost(client: PoolClient): void {
    if (client !== this.client) return;
    this.retryAt = Date.now() + RETRY_MS;
    this.drop(new Error('policy change feed connection lost'));
    this.publishLocally('*');
  }

  private drop(err?: Error): void {
    const client = this.client;
    const release = this.release;
    this.client = undefined;
    this.release = undefined;
    if (!client || !release) return;
    client.removeAllListeners('notification');
    client.removeAllListeners('end');
    client.on('error', () => undefined);
    // Destroyed rather than returned: a pooled connection must not keep listening.
    release(err ?? new Error('policy change feed closed'));
  }
}
