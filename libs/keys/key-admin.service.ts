import { Inject, Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { DataSource } from 'typeorm';
import { AuditLog } from '../audit';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { Keyring, SystemKeys, TenantKeyStore } from '../crypto';
import { asTenantId, DomainError, TenantId } from '../kernel';
import { TokenSigningKeys } from '../token-service';
import { CryptoShredder, TenantShredResult } from './crypto-shredder';
import { KeyJob, SYSTEM_TENANT } from './key-job';
import { KeyJobStore } from './key-job.store';
import { KeyStatusService, KeyStatusView } from './key-status.service';

/** The scope that, with `vault:admin`, allows vault-wide key operations (the KEK, signing keys, every tenant). */
export const KEY_OPERATOR_SCOPE = 'vault:operator';

export type RotationTarget = 'kek' | 'tenant' | 'signing';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Who asks: an admin of `tenant` (from their token), or an operator (vault-wide); `subject` goes into the audit record. */
export interface KeyActor {
  tenant: string;
  subject: string;
  operator: boolean;
}

/**
 * The key operations of the operator surface (admin API and CLI), each audited:
 * `key.rotate` (requested here; its outcome by the job runner), `key.retire`, `key.shred`.
 */
@Injectable()
export class KeyAdminService {
  private signing?: TokenSigningKeys;

  constructor(
    private readonly jobs: KeyJobStore,
    private readonly status: KeyStatusService,
    private readonly keyring: Keyring,
    private readonly tenantKeys: TenantKeyStore,
    private readonly shredder: CryptoShredder,
    private readonly audit: AuditLog,
    private readonly moduleRef: ModuleRef,
    private readonly ds: DataSource,
    private readonly systemKeys: SystemKeys,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
  ) {}

  /** Key status: an operator may name a tenant (or none: the whole vault); an admin sees their own tenant, whatever they name. */
  keyStatus(actor: KeyActor, tenant?: string): Promise<KeyStatusView> {
    return this.status.status({ operator: actor.operator, tenant: actor.operator ? tenant : actor.tenant });
  }

  /** One key job; another tenant's job is as absent as one that does not exist (operators see every job). */
  async job(actor: KeyActor, id: string): Promise<KeyJob> {
    const job = UUID.test(id) ? await this.jobs.get(id) : undefined;
    if (!job || (job.tenant !== null && job.tenant !== actor.tenant && !actor.operator))
      throw new DomainError('not_found', 'no such key job');
    return job;
  }

  /**
   * Starts an online rotation and returns its job (the open one if a rotation of the same key is
   * already under way). `kek` creates a new KEK version unless `newVersion` is false (then it only
   * picks up the current one, e.g. made by a Key Vault rotation policy) and needs an operator.
   * `signing` (operator) is instant: the token service's new key signs from now on, the old one
   * stays published for its overlap; it is returned as a finished job.
   */
  async rotate(
    actor: KeyActor,
    target: RotationTarget,
    opts: { tenant?: string; newVersion?: boolean } = {},
  ): Promise<{ job: KeyJob; created: boolean }> {
    if (target === 'signing') {
      this.requireOperator(actor, 'rotating the token-signing key');
      const { kid, previous } = await this.signingKeys().rotate();
      const job = await this.jobs.recordCompleted({
        kind: 'signing_rotate',
        tenant: null,
        requestedBy: actor.subject,
        params: { kid, previous, audit_tenant: actor.tenant },
      });
      await this.audit.record({
        tenant: actor.tenant,
        action: 'key.rotate',
        outcome: 'allowed',
        details: { target, job: job.id, phase: 'completed', kid, previous, by: actor.subject },
      });
      return { job, created: true };
    }
    if (target === 'kek') {
      this.requireOperator(actor, 'rotating the KEK');
      const r = await this.jobs.enqueue({
        kind: 'kek_rotate',
        tenant: null,
        requestedBy: actor.subject,
        params: { create_version: opts.newVersion ?? true, audit_tenant: actor.tenant },
      });
      await this.audit.record({
        tenant: actor.tenant,
        action: 'key.rotate',
        outcome: 'allowed',
        details: { target, job: r.job.id, phase: 'requested', new_job: r.created, by: actor.subject },
      });
      return r;
    }
    const tenant = this.tenantFor(actor, opts.tenant);
    // A typo must not "succeed" as a rotation of nothing.
    if (!(await this.tenantKeys.tenantExists(tenant))) throw new DomainError('not_found', `no tenant "${tenant}"`);
    const r = await this.jobs.enqueue({ kind: 'tenant_rotate', tenant, requestedBy: actor.subject, params: { audit_tenant: tenant } });
    await this.audit.record({
      tenant,
      action: 'key.rotate',
      outcome: 'allowed',
      details: { target, job: r.job.id, phase: 'requested', new_job: r.created, by: actor.subject },
    });
    return r;
  }

  /**
   * Starts (or returns the open) re-seal job: every sealed field onto the current AAD scheme,
   * then the old scheme refused, tenant by tenant. Vault-wide, so operators only. The scheduler
   * starts it on its own after an upgrade; this is for an operator who does not want to wait.
   */
  async reseal(actor: KeyActor): Promise<{ job: KeyJob; created: boolean }> {
    this.requireOperator(actor, 're-sealing every tenant');
    const r = await this.jobs.enqueue({
      kind: 'aad_reseal',
      tenant: null,
      requestedBy: actor.subject,
      params: { audit_tenant: actor.tenant },
    });
    await this.audit.record({
      tenant: actor.tenant,
      action: 'key.reseal',
      outcome: 'allowed',
      details: { target: 'aad', job: r.job.id, phase: 'requested', new_job: r.created, by: actor.subject },
    });
    return r;
  }

  /**
   * Retires tenant-key `version` and every version below it: refused (409) while any record still
   * uses one, or when it is the active version; afterwards the minimum decryption version is
   * `version + 1`, ciphertexts naming a retired version are refused, and their keys are destroyed.
   */
  async retire(
    actor: KeyActor,
    version: number,
    tenantName?: string,
  ): Promise<{ tenant: TenantId; retired: number[]; minVersion: number }> {
    if (!Number.isInteger(version) || version < 1) throw new DomainError('validation_failed', 'version must be a positive integer');
    const tenant = this.tenantFor(actor, tenantName);
    try {
      const retired = await this.keyring.retireBelow(tenant, version + 1);
      await this.audit.record({
        tenant,
        action: 'key.retire',
        outcome: 'allowed',
        details: { target: 'tenant', versions: retired, min_version: version + 1, by: actor.subject },
      });
      return { tenant, retired, minVersion: version + 1 };
    } catch (err) {
      if (err instanceof DomainError && err.code === 'conflict') {
        await this.audit.record({
          tenant,
          action: 'key.retire',
          outcome: 'denied',
          reason: 'conflict',
          details: { target: 'tenant', version, by: actor.subject },
        });
      }
      throw err;
    }
  }

  /** Crypto-shreds one user's connections in the actor's tenant. */
  async shredUser(actor: KeyActor, subject: string) {
    const tenant = asTenantId(actor.tenant);
    const r = await this.shredder.shredUser(tenant, subject, actor.subject);
    await this.audit.record({
      tenant,
      action: 'key.shred',
      outcome: 'allowed',
      subject,
      // Ids of the first hundred only: an audit record stays small whatever the user had.
      details: {
        scope: 'user',
        connections: r.connections.length,
        connection_ids: r.connections.slice(0, 100).map((c) => c.id),
        job: r.job?.id ?? null,
        by: actor.subject,
      },
    });
    return r;
  }

  /** Crypto-shreds a whole tenant: `confirm` must repeat the tenant id. */
  async shredTenant(actor: KeyActor, confirm: string, tenantName?: string): Promise<TenantShredResult & { tenant: TenantId }> {
    const tenant = this.tenantFor(actor, tenantName);
    if (confirm !== tenant)
      throw new DomainError('validation_failed', 'confirm must repeat the tenant id', {
        extra: { errors: [{ field: 'confirm', message: 'must equal the tenant id' }] },
      });
    const r = await this.shredder.shredTenant(tenant);
    await this.audit.record({
      tenant,
      action: 'key.shred',
      outcome: 'allowed',
      details: {
        scope: 'tenant',
        tenant_keys: r.tenantKeysDestroyed,
        connections: r.connections,
        integrations: r.integrations,
        agents: r.agents,
        policies: r.policies,
        resources: r.resources,
        webhook_endpoints: r.webhookEndpoints,
        webhook_events: r.webhookEvents,
        by: actor.subject,
      },
    });
    return { tenant, ...r };
  }

  /** The token service's instance where it runs (the API), so this process signs with the new key at once; else one of our own. */
  private signingKeys(): TokenSigningKeys {
    if (!this.signing) {
      try {
        this.signing = this.moduleRef.get(TokenSigningKeys, { strict: false });
      } catch {
        this.signing = TokenSigningKeys.onDataSource(this.ds, this.systemKeys, this.config);
      }
    }
    return this.signing;
  }

  /** A tenant admin acts on their own tenant only; an operator may name any tenant. */
  private tenantFor(actor: KeyActor, name?: string): TenantId {
    const tenant = name ?? actor.tenant;
    if (tenant !== actor.tenant) this.requireOperator(actor, 'acting on another tenant');
    try {
      if (tenant !== SYSTEM_TENANT) return asTenantId(tenant);
    } catch {
      // fall through: one answer for every name that is not a tenant id
    }
    throw new DomainError('validation_failed', 'not a valid tenant id', {
      extra: { errors: [{ field: 'tenant', message: 'is not a tenant id' }] },
    });
  }

  private requireOperator(actor: KeyActor, what: string): void {
    if (!actor.operator) throw new DomainError('forbidden', `${what} needs the ${KEY_OPERATOR_SCOPE} scope`);
  }
}
