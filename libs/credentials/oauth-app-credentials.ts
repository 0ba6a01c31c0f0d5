import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Keyring } from '../crypto';
import { Secret, TenantId } from '../kernel';

/** An integration's OAuth client: its id, and its secret opened for one provider call. */
export interface OAuthAppCredentials {
  clientId: string;
  clientSecret: Secret | null;
}

/**
 * Opens an integration's sealed client secret for the token endpoint. The only reader of
 * `client_secret_ct`: the admin API never returns it (IntegrationStore writes it only).
 */
@Injectable()
export class OAuthAppCredentialReader {
  constructor(
    private readonly ds: DataSource,
    private readonly keyring: Keyring,
  ) {}

  async read(tenant: TenantId, integration: string): Promise<OAuthAppCredentials | undefined> {
    const rows = await this.ds.query(
      `SELECT id, config->>'client_id' AS client_id, dek_wrapped, client_secret_ct FROM integrations WHERE tenant = $1 AND name = $2`,
      [tenant, integration],
    );
    const r = rows[0];
    if (!r || typeof r.client_id !== 'string') return undefined;
    if (!r.client_secret_ct || !r.dek_wrapped) return { clientId: r.client_id, clientSecret: null };
    const b = await this.keyring.open({ tenant, table: 'integrations', id: r.id }, r.dek_wrapped, 'client_secret', r.client_secret_ct);
    try {
      return { clientId: r.client_id, clientSecret: Secret.of(b.toString('utf8')) };
    } finally {
      b.fill(0);
    }
  }
}
