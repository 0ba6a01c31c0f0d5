import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { TenantId } from '../kernel';
import { Policy } from './policy.evaluator';
import { PolicyChangeFeed } from './policy-change.feed';
import { POLICY_COLUMNS, PolicyRow, toPolicy } from './policy-row';

/** `LOAD`'s one row. */
interface SnapshotRow {
  agents: string[];
  policies: PolicyRow[];
  integrations: Record<string, 'user' | 'tenant'>;
  /** A user's own per-agent switches that are off: [subject, integration, agent]. */
  user_denies: Array<[string, string, string]>;
}

/** What the release path needs to know about a tenant's agents and policies. */
export interface PolicySnapshot {
  /** Registered agents that are not disabled. */
  agents: ReadonlySet<string>;
  policies: readonly Policy[];
  /** Registered integrations and their level (what policies name, and what a release looks up). */
  integrations: ReadonlyMap<string, 'user' | 'tenant'>;
  /** Users' own per-agent switches that are off: each is a deny (DESIGN.md policy). */
  userDenies: UserDenies;
}

/**
 * Users' switched-off agents, by subject, then integration, then agent: a lookup on every release
 * that builds no key string (the strings asked with are the token's and the route's own).
 */
export class UserDenies {
  private readonly bySubject = new Map<string, Map<string, Set<string>>>();

  constructor(rows: ReadonlyArray<readonly [subject: string, integration: string, agent: string]>) {
    for (const [subject, integration, agent] of rows) {
      let byIntegration = this.bySubject.get(subject);
      if (!byIntegration) this.bySubject.set(subject, (byIntegration = new Map()));
      let agents = byIntegration.get(integration);
      if (!agents) byIntegration.set(integration, (agents = new Set()));
      agents.add(agent);
    }
  }

  has(subject: string, integration: string, agent: string): boolean {
    return this.bySubject.get(subject)?.get(integration)?.has(agent) === true;
  }
}

/** Safety net: even if a notification were lost without the feed noticing, a snapshot is this old at most. */
const MAX_AGE_MS = 10_000;
const MAX_TENANTS = 10_000;

const LOAD = `SELECT
  ARRAY(SELECT client_id FROM agents WHERE tenant = $1 AND NOT disabled) AS agents,
  COALESCE((SELECT json_agg(p) FROM (SELECT ${POLICY_COLUMNS} FROM policies WHERE tenant = $1 ORDER BY name) p), '[]') AS policies,
  COALESCE((SELECT json_object_agg(name, level) FROM integrations WHERE tenant = $1), '{}') AS integrations,
  COALESCE((SELECT json_agg(json_build_array(subject, integration, agent)) FROM user_agent_denies WHERE tenant = $1), '[]') AS user_denies`;

/**
 * Per-tenant snapshots of registered agents, policies and integration levels, read in one query and kept until a
 * change notification (PolicyChangeFeed), a write through this process, or MAX_AGE_MS. While
 * the feed is down nothing is cached: every read goes to the database.
 */
@Injectable()
export class PolicySnapshots {
  private readonly entries = new Map<string, { snapshot: PolicySnapshot; until: number }>();
  /** Bumped by every invalidation, so that a load that raced with one is not kept. */
  private generation = 0;
  private readonly loading = new Map<string, { generation: number; promise: Promise<PolicySnapshot> }>();

  constructor(
    private readonly ds: DataSource,
    private readonly feed: PolicyChangeFeed,
  ) {
    feed.subscribe((tenant) => this.invalidate(tenant));
  }

  /**
   * The cached snapshot when `get` would answer with it, without a promise: the release path asks
   * three times per release, and most of what a call allocates is its promises.
   */
  cached(tenant: TenantId): PolicySnapshot | undefined {
    const hit = this.feed.live() ? this.entries.get(tenant) : undefined;
    return hit && hit.until > Date.now() ? hit.snapshot : undefined;
  }

  /** `fresh`: skip the cached snapshot and any load already under way (and replace it). */
  async get(tenant: TenantId, fresh = false): Promise<PolicySnapshot> {
    const live = this.feed.live();
    const hit = live && !fresh ? this.entries.get(tenant) : undefined;
    if (hit && hit.until > Date.now()) return hit.snapshot;
    const generation = this.generation;
    // One load per tenant at a time: after an invalidation, concurrent releases share it.
    const running = fresh ? undefined : this.loading.get(tenant);
    if (running && running.generation === generation) return running.promise;
    const promise = this.load(tenant, live, generation);
    if (!fresh) {
      this.loading.set(tenant, { generation, promise });
      const done = () => {
        if (this.loading.get(tenant)?.promise === promise) this.loading.delete(tenant);
      };
      promise.then(done, done);
    }
    return promise;
  }

  private async load(tenant: TenantId, live: boolean, generation: number): Promise<PolicySnapshot> {
    const [row]: SnapshotRow[] = await this.ds.query(LOAD, [tenant]);
    const snapshot: PolicySnapshot = {
      agents: new Set(row.agents),
      policies: row.policies.map(toPolicy),
      integrations: new Map(Object.entries(row.integrations)),
      userDenies: new UserDenies(row.user_denies),
    };
    if (live && this.feed.live() && generation === this.generation) {
      if (this.entries.size >= MAX_TENANTS) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(tenant, { snapshot, until: Date.now() + MAX_AGE_MS });
    }
    return snapshot;
  }

  /** After a write through this process: drop the tenant here now, other processes on the notification. */
  changed(tenant: TenantId): void {
    this.feed.publishLocally(tenant);
  }

  private invalidate(tenant: string): void {
    this.generation++;
    if (tenant === '*') this.entries.clear();
    else this.entries.delete(tenant);
  }
}

/** json_agg gives what the table holds; the evaluator expects the admin API's shape. */
