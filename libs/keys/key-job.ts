/**
 * What a key job does. `kek_rotate`: every tenant/system key onto the KEK's current version.
 * `tenant_rotate`: a new TK, DEKs rewrapped onto it, old TKs destroyed. `signing_rotate`: a new
 * token-signing key (instant: recorded as a finished job). `aad_reseal`: every sealed field onto the
 * current AAD scheme, then the old scheme refused (vault-wide).
 */
export type KeyJobKind = 'kek_rotate' | 'tenant_rotate' | 'signing_rotate' | 'aad_reseal';
export type KeyJobStatus = 'pending' | 'running' | 'succeeded' | 'failed';

/** One row of `key_jobs`. Progress (`done`/`total`) counts keys (KEK) or records (tenant). */
export interface KeyJob {
  id: string;
  kind: KeyJobKind;
  tenant: string | null;
  status: KeyJobStatus;
  params: KeyJobParams;
  total: number;
  done: number;
  attempts: number;
  requestedBy: string;
  errorClass: string | null;
  leaseOwner: string | null;
  leaseExpiresAt: Date | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  updatedAt: Date;
}

/** Checkpointed job state: what a resumed job needs to continue, never key material. */
export interface KeyJobParams {
  /** kek_rotate: create a new KEK version first (otherwise only pick up the current one). */
  create_version?: boolean;
  /** kek_rotate: the version this job created (so a resumed job does not create another). */
  created_key_id?: string;
  /** tenant_rotate: the active TK version when the job was requested. */
  from_version?: number;
  /** tenant_rotate: false = no new TK, only move every record onto the active one and retire the rest. */
  rotate?: boolean;
  /** tenant_rotate: the TK version records move onto (set once the new TK exists). */
  to_version?: number;
  /** Run the job again when this run ends (a request arrived while it was running). */
  again?: boolean;
  /** Tenant whose admin asked (audit records of the outcome go there). */
  audit_tenant?: string;
  [key: string]: unknown;
}

/** A job that cannot succeed by retrying: it ends `failed` with this class. */
export class KeyJobFailure extends Error {
  constructor(
    readonly errorClass: string,
    message: string,
  ) {
    super(message);
    this.name = 'KeyJobFailure';
  }
}

/** Tenant under which audit records of vault-wide key operations nobody in a tenant asked for are written. */
export const SYSTEM_TENANT = '_system';
