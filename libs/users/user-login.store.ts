import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AuditLog } from '../audit';
import { RecordRef, SealedFields } from '../crypto';
import { ensureTenant } from '../db';
import { Secret, TenantId } from '../kernel';

/** A tenant's OpenID provider for user sign-in, as the admin API shows it: never the secret. */
export interface UserLogin {
  issuer: string;
  clientId: string;
  scopes: string[];
  subjectClaim: string;
  rolesClaim: string | null;
  createdAt: Date;
  updatedAt: Date;
}

const TABLE = 'user_logins';
const COLUMNS = 'issuer, client_id, scopes, subject_claim, roles_claim, created_at, updated_at';

/** The secret opens only in its row and only for the IdP (issuer, client id) it was given for (invariant 3). */
function loginRef(tenant: TenantId, id: string, issuer: string, clientId: string): RecordRef {
  return { tenant, table: TABLE, id, bind: { issuer, client_id: clientId } };
}

/** One user-login configuration per tenant; the client secret sealed through the one seal helper. */
@Injectable()
export class UserLoginStore {
  constructor(
    private readonly ds: DataSource,
    private readonly sealed: SealedFields,
    private readonly audit: AuditLog,
  ) {}

  /** Creates or replaces; a replacement gets a new id (and so a new binding for its secret). */
  async put(
    tenant: TenantId,
    input: Omit<UserLogin, 'createdAt' | 'updatedAt'> & { clientSecret: Secret },
  ): Promise<{ login: UserLogin; created: boolean }> {
    const id = randomUUID();
    await ensureTenant(this.ds, tenant);
    const rows = await this.sealed.write(
      loginRef(tenant, id, input.issuer, input.clientId),
      { client_secret: Buffer.from(input.clientSecret.reveal(), 'utf8') },
      (s) =>
        this.ds.query(
          `INSERT INTO user_logins (tenant, id, issuer, client_id, scopes, subject_claim, roles_claim, tk_version, dek_wrapped, client_secret_ct)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (tenant) DO UPDATE SET id = EXCLUDED.id, issuer = EXCLUDED.issuer, client_id = EXCLUDED.client_id, scopes = EXCLUDED.scopes,
           subject_claim = EXCLUDED.subject_claim, roles_claim = EXCLUDED.roles_claim, tk_version = EXCLUDED.tk_version,
           dek_wrapped = EXCLUDED.dek_wrapped, client_secret_ct = EXCLUDED.client_secret_ct, updated_at = now()
         RETURNING ${COLUMNS}, (xmax = 0) AS created`,
          [
            tenant,
            id,
            input.issuer,
            input.clientId,
            input.scopes,
            input.subjectClaim,
            input.rolesClaim,
            s.tkVersion,
            s.dekWrapped,
            s.fields.client_secret,
          ],
        ),
    );
    return { login: view(rows[0]), created: Boolean(rows[0].created) };
  }

  async get(tenant: TenantId): Promise<UserLogin | undefined> {
    const rows = await this.ds.query(`SELECT ${COLUMNS} FROM user_logins WHERE tenant = $1`, [tenant]);
    return rows[0] ? view(rows[0]) : undefined;
  }

  /** The configuration with its opened secret (for a sign-in); a secret that does not open fails closed, alarmed and audited. */
  async withSecret(tenant: TenantId): Promise<(UserLogin & { clientSecret: Secret }) | undefined> {
    const rows = await this.ds.query(`SELECT id, dek_wrapped, client_secret_ct, ${COLUMNS} FROM user_logins WHERE tenant = $1`, [tenant]);
    const r = rows[0];
    if (!r) return undefined;
    const plain = await this.sealed.open(
      loginRef(tenant, r.id, r.issuer, r.client_id),
      { dekWrapped: r.dek_wrapped, ct: r.client_secret_ct },
      'client_secret',
      {
        audit: this.audit,
        action: 'user.sign_in',
      },
    );
    try {
      return { ...view(r), clientSecret: Secret.of(plain.toString('utf8')) };
    } finally {
      plain.fill(0);
    }
  }
}

function view(r: Record<string, any>): UserLogin {
  return {
    issuer: r.issuer,
    clientId: r.client_id,
    scopes: r.scopes,
    subjectClaim: r.subject_claim,
    rolesClaim: r.roles_claim,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}
