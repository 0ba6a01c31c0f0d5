import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ConnectionStore } from '../connections';
import { Keyring } from '../crypto';
import { TenantId } from '../kernel';
import { KeyJob } from './key-job';
import { KeyJobStore } from './key-job.store';

/** Tables with rows about one person (`tenant`, `subject`) that a shred erases, beside their connections and sessions. */
const USER_ROWS = ['approvals', 'oauth_consents', 'oauth_refresh_tokens', 'oauth_codes', 'oauth_authorization_requests'] as const;

export interface TenantShredResult {
  tenantKeysDestroyed: number[];
  connections: number;
  integrations: number;
  agents: number;
  policies: number;
  /** Its MCP resources (the APIs it registered, with their scope→role maps). */
  resources: number;
  /** The tenant's webhook endpoint (its signing secret was sealed under the destroyed keys): 0 or 1. */
  webhookEndpoints: number;
  /** Outbox events of the tenant, whatever their status: none is delivered after the shred. */
  webhookEvents: number;
}

/**
 * Crypto-shredding: deleting data by destroying the keys that could read it.
 *
 * - A user: their connections go (each row held the only live copy of its DEK; their derived
 *   tokens cascade), and a tenant-key rotation is started so the TK that wrapped those DEKs is
 *   destroyed once the tenant's other records have moved to a new one. From then on a backup's copy
 *   of the user's rows needs a TK that exists only wrapped in that same backup. Their connect
 *   sessions, `/account` sessions, approval requests and the authorization server's rows about them
 *   (`USER_ROWS`) are deleted too.
 * - A tenant: in one transaction every TK version is destroyed (wrapped copies zeroed, minimum
 *   decryption version raised past them) and every tenant-owned row deleted, webhook endpoint and
 *   outbox included (else pending events would go to an endpoint the tenant sets up afresh). A
 *   delivery already in flight when the shred commits may still arrive: the dispatcher holds no
 *   lock across its POST, and there is no recalling a request on the wire.
 *
 * Kept on purpose (test/keys/shred-catalog.test.ts checks every other table with a `tenant`
 * column is emptied): the audit log (append-only; for a user too), a user's per-agent switches (each
 * is a deny), the destroyed TK versions (zeroed; their numbers are never used again), the tenant's
 * key jobs (cancelled), token revocations and cutoffs (tokens issued before stay refused) and the
 * agent-assertion replay cache (pruned as each entry expires). None of them holds a secret.
 *
 * Backups still hold the wrapped TKs themselves, under the KEK version of their day: they are
 * unreadable for good once that KEK version is disabled in Key Vault after a KEK rotation
 * (`GET /v1/admin/keys` lists the versions still in use).
 */
@Injectable()
export class CryptoShredder {
  constructor(
    private readonly ds: DataSource,
    private readonly keyring: Keyring,
    private readonly connections: ConnectionStore,
    private readonly jobs: KeyJobStore,
  ) {}

  async shredUser(
    tenant: TenantId,
    subject: string,
    requestedBy: string,
  ): Promise<{ connections: Array<{ id: string; integration: string }>; job?: KeyJob }> {
    // One change: if any step fails nothing is deleted, so a retry finds the connections again and
    // schedules the rotation (deleted rows with no rotation would leave the wrapping key alive, and a
    // retry would see nothing to shred).
    return this.ds.transaction(async (m) => {
      const deleted = await this.connections.deleteAllForUser(tenant, subject, m);
      // Connect sessions under way for them hold a sealed PKCE verifier and the e-mail they expect.
      await m.query(`DELETE FROM connect_sessions WHERE tenant = $1 AND subject = $2`, [tenant, subject]);
      // Their sessions on /account (e-mail and roles kept with each) end now. Their per-agent switches stay: each is a deny.
      await m.query(`DELETE FROM user_sessions WHERE tenant = $1 AND subject = $2`, [tenant, subject]);
      // Their CIBA requests (claims and binding messages kept with each) and what the authorization server remembers of them:
      // consents, unused codes, requests waiting for consent, refresh-token families (a deleted token is refused as unknown).
      for (const table of USER_ROWS) await m.query(`DELETE FROM ${table} WHERE tenant = $1 AND subject = $2`, [tenant, subject]);
      if (!deleted.length) return { connections: [] };
      // A rotation already running may have rewrapped this user's DEKs onto its new TK: run again after it.
      const { job } = await this.jobs.enqueue(
        { kind: 'tenant_rotate', tenant, requestedBy, params: { audit_tenant: tenant, reason: 'shred' } },
        { againIfRunning: true, within: m },
      );
      return { connections: deleted, job };
    });
  }

  async shredTenant(tenant: TenantId): Promise<TenantShredResult> {
    const result = await this.ds.transaction(async (m) => {
      const tenantKeysDestroyed = await Keyring.destroyTenantKeys(m, tenant);
      const remove = async (
        table: 'connections' | 'integrations' | 'agents' | 'policies' | 'resources' | 'webhook_endpoints' | 'webhook_outbox',
      ) => Number((await m.query(`DELETE FROM ${table} WHERE tenant = $1`, [tenant]))[1] ?? 0);
      // Derived tokens go with their connection, connect sessions with their integration (ON DELETE CASCADE).
      const connections = await remove('connections');
      const integrations = await remove('integrations');
      const agents = await remove('agents');
      const policies = await remove('policies');
      const resources = await remove('resources');
      // Outbox inserts check for an enabled endpoint: none that starts after this commits writes a row.
      const webhookEndpoints = await remove('webhook_endpoints');
      const webhookEvents = await remove('webhook_outbox');
      // People's sign-in to the vault: the provider setting (its secret sealed under the destroyed keys), flows, sessions, switches.
      for (const table of ['user_sessions', 'user_login_flows', 'user_agent_denies', 'user_logins'])
        await m.query(`DELETE FROM ${table} WHERE tenant = $1`, [tenant]);
      // Approvals and the authorization server's rows of every user, and the tenant's registered OAuth clients.
      for (const table of [...USER_ROWS, 'oauth_clients']) await m.query(`DELETE FROM ${table} WHERE tenant = $1`, [tenant]);
      await m.query(`UPDATE tenants SET display_name = NULL, logo_url = NULL, profile_updated_at = NULL WHERE id = $1`, [tenant]);
      return { tenantKeysDestroyed, connections, integrations, agents, policies, resources, webhookEndpoints, webhookEvents };
    });
    this.keyring.forgetTenantKeys(tenant);
    await this.jobs.cancelForTenant(tenant, 'tenant_shredded');
    return result;
  }
}
