import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { TenantId } from '../kernel';

/** A `user_login_flows` row as `take` returns it: the one row type of the table. */
interface LoginFlowRow {
  tenant: TenantId;
  state: string;
  nonce: string;
  return_to: string;
}

/** A sign-in under way: what the callback checks the provider's answer against. */
export interface LoginFlow {
  tenant: TenantId;
  state: string;
  nonce: string;
  returnTo: string;
}

/** SQL of `user_login_flows`: one row per sign-in under way, keyed by the hash of the id the browser holds. */
@Injectable()
export class UserLoginFlowStore {
  constructor(private readonly ds: DataSource) {}

  /**
   * Sweeps expired flows, then records a new one unless `maxPerTenant` are under way in the tenant (anyone may
   * open /account: the bound keeps a flood from growing the table without end). False when the bound refused it.
   */
  async open(idHash: Buffer, flow: LoginFlow, ttlSeconds: number, maxPerTenant: number): Promise<boolean> {
    await this.ds.query(`DELETE FROM user_login_flows WHERE expires_at < now()`);
    const inserted: unknown[] = await this.ds.query(
      `INSERT INTO user_login_flows (id_hash, tenant, state, nonce, return_to, expires_at)
       SELECT $1, $2, $3, $4, $5, now() + make_interval(secs => $6) WHERE (SELECT count(*) FROM user_login_flows WHERE tenant = $2) < $7 RETURNING 1`,
      [idHash, flow.tenant, flow.state, flow.nonce, flow.returnTo, ttlSeconds, maxPerTenant],
    );
    return inserted.length > 0;
  }

  /** The live flow with this id hash, deleted as it is read (single use); undefined when there is none. */
  async take(idHash: Buffer): Promise<LoginFlow | undefined> {
    const [rows] = (await this.ds.query(
      `DELETE FROM user_login_flows WHERE id_hash = $1 AND expires_at > now() RETURNING tenant, state, nonce, return_to`,
      [idHash],
    )) as [LoginFlowRow[], number];
    return rows[0] ? toLoginFlow(rows[0]) : undefined;
  }
}

/** The one mapper of a `user_login_flows` row. */
function toLoginFlow(r: LoginFlowRow): LoginFlow {
  return { tenant: r.tenant, state: r.state, nonce: r.nonce, returnTo: r.return_to };
}
