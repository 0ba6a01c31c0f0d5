import { BeforeApplicationShutdown, Logger } from '@nestjs/common';
import type { Notification, PoolClient } from 'pg';
import type { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';

/** What hears a channel. The callbacks run synchronously on the connection's events; one that throws does not stop the others. */
export interface NotificationSubscriber {
  /** A NOTIFY on the channel ('' when it carried no payload). */
  onNotification(payload: string): void;
  /** The channel is LISTENed now (the first time, and after every outage): whatever was sent before is unknown. */
  onReconnected?(): void;
  /** The connection is lost: nothing is heard on the channel until `onReconnected`. */
  onLost?(): void;
}

/** First retry after a failed connect or a lost connection; doubled per failure up to RETRY_MAX_MS. */
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 2000;
/** A channel name goes into `LISTEN` unquoted (as it shows in pg_stat_activity), so only plain identifiers. */
const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/;

type Release = (err?: Error) => void;

/**
 * The process's one LISTEN connection, shared by every channel (one pool client, not one per
 * feature: with several processes on one database, held connections count against
 * max_connections). Opened on the first `subscribe`; LISTENs every subscribed channel; when the
 * connection is lost it tells the subscribers (`onLost`), reconnects with a bounded backoff and
 * tells them again when each channel is back (`onReconnected`). On shutdown it waits for a connect
 * in flight and destroys the client, so the pool's end() never waits for it.
 */
export class PgNotifications implements BeforeApplicationShutdown {
  private readonly log = new Logger('PgNotifications');
  private readonly subscribers = new Map<string, Set<NotificationSubscriber>>();
  private client?: PoolClient;
  private release?: Release;
  /** Channels LISTENed on `client`. */
  private listened = new Set<string>();
  /** The connect/LISTEN loop in flight: shutdown waits for it. */
  private busy?: Promise<void>;
  private retry?: NodeJS.Timeout;
  private failures = 0;
  private closed = false;
  /** One warning per outage, not one per retry. */
  private warned = false;

  constructor(private readonly ds: DataSource) {}

  /** Starts listening on `channel` (opening the connection if needed). Returns the unsubscribe (the channel stays LISTENed). */
  subscribe(channel: string, subscriber: NotificationSubscriber): () => void {
    if (!CHANNEL.test(channel)) throw new Error(`not a plain channel name: ${channel}`);
    let set = this.subscribers.get(channel);
    if (!set) this.subscribers.set(channel, (set = new Set()));
    set.add(subscriber);
    this.kick();
    return () => {
      set.delete(subscriber);
      if (set.size === 0 && this.subscribers.get(channel) === set) this.subscribers.delete(channel);
    };
  }

  /** True while notifications on `channel` are being received. */
  live(channel: string): boolean {
    return this.client !== undefined && this.listened.has(channel);
  }

  /** Waits for the connect in flight, if any; then whether `channel` is live (false while waiting to retry). */
  async ready(channel: string): Promise<boolean> {
    while (this.busy) await this.busy;
    return this.live(channel);
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.close();
  }

  /** Stops for good: no retry, the connect in flight is awaited, the client destroyed. Subscribers are not told. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retry);
    this.retry = undefined;
    while (this.busy) await this.busy;
    this.drop(new Error('notifications closed'));
  }

  private kick(): void {
    if (this.closed || this.busy || this.retry) return;
    this.busy = this.sync()
      .catch((err: unknown) => this.failed(err))
      .finally(() => {
        this.busy = undefined;
        // Subscribed after the loop's last look.
        if (this.unlistened().length > 0) this.kick();
      });
  }

  private unlistened(): string[] {
    return [...this.subscribers.keys()].filter((c) => !this.listened.has(c));
  }

  /** Connects if needed and LISTENs every subscribed channel; re-checks `closed` and the client after every await. */
  private async sync(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      const todo = this.unlistened();
      if (todo.length === 0) return;
      if (!this.client) {
        const [client, release] = (await (this.ds.driver as PostgresDriver).obtainMasterConnection()) as [PoolClient, Release];
        if (this.closed) {
          discard(client, release, new Error('notifications closed'));
          return;
        }
        const onLost = () => this.lost(client);
        client.on('notification', this.deliver);
        client.on('error', onLost);
        client.on('end', onLost);
        const done: Release = (err) => {
          client.removeListener('notification', this.deliver);
          client.removeListener('error', onLost);
          client.removeListener('end', onLost);
          release(err);
        };
        [this.client, this.release, this.listened] = [client, done, new Set()];
        continue;
      }
      const client = this.client;
      await client.query(todo.map((c) => `LISTEN ${c}`).join('; '));
      // Closed meanwhile (close() destroys the client), or lost (the retry timer reconnects).
      if (this.closed || client !== this.client) return;
      for (const c of todo) this.listened.add(c);
      this.failures = 0;
      if (this.warned) this.log.log('notification connection back');
      this.warned = false;
      for (const c of todo) this.tell(c, 'onReconnected');
    }
  }

  private failed(err: unknown): void {
    if (this.closed) return;
    // A LISTEN that failed on a connection still up: its channels are lost too; start again on a new one.
    if (this.client) return this.lost(this.client, err);
    this.warn(`notifications unavailable (${nameOf(err)}); retrying`);
    this.scheduleRetry();
  }

  private lost(client: PoolClient, err?: unknown): void {
    if (client !== this.client) return;
    const channels = [...this.listened];
    this.drop(err instanceof Error ? err : new Error('notification connection lost'));
    if (this.closed) return;
    this.warn(`notification connection lost${err === undefined ? '' : ` (${nameOf(err)})`}; reconnecting`);
    for (const c of channels) this.tell(c, 'onLost');
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closed || this.retry) return;
    const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.failures);
    this.failures += 1;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.kick();
    }, delay);
    this.retry.unref();
  }

  private readonly deliver = (n: Notification): void => {
    for (const s of this.subscribers.get(n.channel) ?? []) this.call(() => s.onNotification(n.payload ?? ''));
  };

  private tell(channel: string, what: 'onReconnected' | 'onLost'): void {
    for (const s of this.subscribers.get(channel) ?? []) this.call(() => s[what]?.());
  }

  private call(f: () => void): void {
    try {
      f();
    } catch (err) {
      this.log.error(`a notification subscriber failed (${nameOf(err)})`);
    }
  }

  private warn(message: string): void {
    if (!this.warned) this.log.warn(message);
    this.warned = true;
  }

  /** Destroyed rather than returned to the pool: a pooled connection must not keep listening. */
  private drop(err: Error): void {
    const { client, release } = this;
    [this.client, this.release, this.listened] = [undefined, undefined, new Set()];
    if (client && release) discard(client, release, err);
  }
}

/** With an error, the pool destroys the client instead of keeping it. */
function discard(client: PoolClient, release: Release, err: Error): void {
  client.on('error', () => undefined);
  release(err);
}

/** The error's name and code only: a message can carry connection details. (Not `instanceof Error`: node's own errors may come from another realm.) */
function nameOf(err: unknown): string {
  const { name, code } = (typeof err === 'object' && err !== null ? err : {}) as { name?: unknown; code?: unknown };
  const label = typeof name === 'string' ? name : 'error';
  return typeof code === 'string' ? `${label} ${code}` : label;
}
