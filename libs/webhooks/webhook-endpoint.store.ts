import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AuditLog } from '../audit';
import { RecordRef, SealedFields } from '../crypto';
import { ensureTenant } from '../db';
import { Secret, TenantId } from '../kernel';
import { newSigningSecret, signingKey } from './signing';

/** A tenant's endpoint as the admin API shows it: never the secret. */
export interface WebhookEndpoint {
  url: string;
  events: string[];
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** What the dispatcher needs to deliver: the URL, the filter and the HMAC key (zero it after use). */
export interface DeliveryTarget {
  url: string;
  events: string[];
  key: Buffer;
  /** When the endpoint was registered: it receives only events created after (see the dispatcher). */
  createdAt: Date;
}

const TABLE = 'webhook_endpoints';

/** What an endpoint's signing secret is bound to: the endpoint (its id) and the URL it signs for (invariant 3). */
export function endpointRef(tenant: TenantId, id: string, url: string): RecordRef {
  return { tenant, table: TABLE, id, bind: { url } };
}

/**
 * One webhook endpoint per tenant. Its signing secret is generated here, sealed by the keyring (DEK
 * under the tenant key, AAD bound to table, tenant and row id) and shown to the admin once.
 */
/** A `webhook_endpoints` row: the one row type of the table (the sealed secret is read by `target` only). */
interface WebhookEndpointRow {
  tenant: string;
  id: string;
  url: string;
  events: string[];
  enabled: boolean;
  tk_version: number;
  dek_wrapped: Buffer;
  secret_ct: Buffer;
  created_at: Date;
  updated_at: Date;
}

/** What `view` reads. */
type ViewRow = Pick<WebhookEndpointRow, 'url' | 'events' | 'enabled' | 'created_at' | 'updated_at'>;

@Injectable()
export class WebhookEndpointStore {
  constructor(
    private readonly ds: DataSource,
    private readonly sealed: SealedFields,
    private readonly audit: AuditLog,
  ) {}

  /** Creates or replaces the endpoint; a replacement gets a new id and secret (the old secret stops signing at once). */
  async put(
    tenant: TenantId,
    input: { url: string; events: string[] },
  ): Promise<{ endpoint: WebhookEndpoint; secret: Secret; created: boolean }> {
    const id = randomUUID();
    const secret = newSigningSecret();
    await ensureTenant(this.ds, tenant);
    const rows = await this.sealed.write<Array<ViewRow & { created: boolean }>>(
      endpointRef(tenant, id, input.url),
      { secret: Buffer.from(secret.reveal(), 'utf8') },
      (sealed) =>
        this.ds.query(
          `INSERT INTO webhook_endpoints (tenant, id, url, events, enabled, tk_version, dek_wrapped, secret_ct)
       VALUES ($1, $2, $3, $4, true, $5, $6, $7)
       ON CONFLICT (tenant) DO UPDATE SET id = EXCLUDED.id, url = EXCLUDED.url, events = EXCLUDED.events, enabled = true,
         tk_version = EXCLUDED.tk_version, dek_wrapped = EXCLUDED.dek_wrapped, secret_ct = EXCLUDED.secret_ct, updated_at = now()
       RETURNING url, events, enabled, created_at, updated_at, (xmax = 0) AS created`,
          [tenant, id, input.url, input.events, sealed.tkVersion, sealed.dekWrapped, sealed.fields.secret],
        ),
    );
    return { endpoint: view(rows[0]), secret, created: Boolean(rows[0].created) };
  }

  async get(tenant: TenantId): Promise<WebhookEndpoint | undefined> {
    const rows: ViewRow[] = await this.ds.query(
      `SELECT url, events, enabled, created_at, updated_at FROM webhook_endpoints WHERE tenant = $1`,
      [tenant],
    );
    return rows[0] ? view(rows[0]) : undefined;
  }

  /** Removes the endpoint; events still pending for it are dropped by the dispatcher. */
  async delete(tenant: TenantId): Promise<boolean> {
    const [, count]: [unknown, number] = await this.ds.query(`DELETE FROM webhook_endpoints WHERE tenant = $1`, [tenant]);
    return Number(count) > 0;
  }

  /**
   * The enabled endpoint with its opened key, or undefined. A key that does not open (tampered,
   * moved, or the row's URL changed in place: the secret is bound to the URL it signs for) is
   * alarmed, audited as `decrypt_failed` and throws `KeyUnwrapError`.
   */
  async target(tenant: TenantId): Promise<DeliveryTarget | undefined> {
    const rows: Array<Pick<WebhookEndpointRow, 'id' | 'url' | 'events' | 'dek_wrapped' | 'secret_ct' | 'created_at'>> = await this.ds.query(
      `SELECT id, url, events, dek_wrapped, secret_ct, created_at FROM webhook_endpoints WHERE tenant = $1 AND enabled`,
      [tenant],
    );
    const r = rows[0];
    if (!r) return undefined;
    const plain = await this.sealed.open(endpointRef(tenant, r.id, r.url), { dekWrapped: r.dek_wrapped, ct: r.secret_ct }, 'secret', {
      audit: this.audit,
      action: 'webhook.deliver',
      details: { endpoint: r.id },
    });
    try {
      return { url: r.url, events: r.events, key: signingKey(Secret.of(plain.toString('utf8'))), createdAt: r.created_at };
    } finally {
      plain.fill(0);
    }
  }
}

/** The one mapper of a `webhook_endpoints` row (no secret in it). */
function view(r: ViewRow): WebhookEndpoint {
  return { url: r.url, events: r.events, enabled: r.enabled, createdAt: r.created_at, updatedAt: r.updated_at };
}
