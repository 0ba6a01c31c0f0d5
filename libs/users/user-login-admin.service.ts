import { Inject, Injectable } from '@nestjs/common';
import { AuditLog } from '../audit';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { DomainError, Secret, TenantId } from '../kernel';
import { OutboundError, ProviderHttpClient } from '../oauth';
import { issuerProblem } from './issuer-rules';
import { UserLogin, UserLoginStore } from './user-login.store';

export interface UserLoginInput {
  issuer: string;
  client_id: string;
  client_secret: string;
  scopes?: string[];
  subject_claim?: string;
  roles_claim?: string | null;
}

type Field = keyof UserLoginInput;

function invalid(field: Field, message: string): DomainError {
  return new DomainError('validation_failed', `Invalid request: ${field}`, { extra: { errors: [{ field, message }] } });
}

const CLAIM = /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/;

/**
 * `PUT/GET /v1/admin/user-login` (issue 17 §1): the tenant's OpenID provider for people signing in
 * to `/account`. The issuer must be https (plain http only on loopback outside production, for the
 * local development provider) and pass the outbound address policy like every fetch; `openid` is
 * always asked for. Every change is audited (`user_login.configure`, issuer host only).
 */
@Injectable()
export class UserLoginAdminService {
  constructor(
    private readonly store: UserLoginStore,
    private readonly http: ProviderHttpClient,
    private readonly audit: AuditLog,
    @Inject(VAULT_CONFIG) private readonly config: Pick<VaultConfig, 'env'>,
  ) {}

  async put(tenant: TenantId, by: string, input: UserLoginInput): Promise<{ login: UserLogin; created: boolean }> {
    const issuer = await this.checkIssuer(input.issuer);
    const scopes = [...new Set(input.scopes ?? ['openid', 'email', 'profile'])];
    if (!scopes.includes('openid')) throw invalid('scopes', 'must include "openid"');
    if (scopes.some((s) => !/^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/.test(s)))
      throw invalid('scopes', 'each scope must be 1–128 printable characters without spaces, quotes or backslashes');
    const subjectClaim = input.subject_claim ?? 'sub';
    if (!CLAIM.test(subjectClaim)) throw invalid('subject_claim', 'must be a claim name (letters, digits, _ . : -)');
    const rolesClaim = input.roles_claim === undefined ? 'roles' : input.roles_claim;
    if (rolesClaim !== null && !CLAIM.test(rolesClaim))
      throw invalid('roles_claim', 'must be a claim name (letters, digits, _ . : -) or null');
    if (!input.client_secret) throw invalid('client_secret', 'must not be empty');
    const r = await this.store.put(tenant, {
      issuer,
      clientId: input.client_id,
      scopes,
      subjectClaim,
      rolesClaim,
      clientSecret: Secret.of(input.client_secret),
    });
    await this.audit.record({
      tenant,
      action: 'user_login.configure',
      outcome: 'allowed',
      details: { issuer_host: new URL(issuer).host, client_id: input.client_id, created: r.created, by },
    });
    return r;
  }

  async get(tenant: TenantId): Promise<UserLogin> {
    const login = await this.store.get(tenant);
    if (!login) throw new DomainError('not_found', 'no user login is configured for this tenant');
    return login;
  }

  /** The issuer identifier as given (OpenID Discovery compares it exactly), checked as a fetch of it would be. */
  private async checkIssuer(issuer: string): Promise<string> {
    const problem = issuerProblem(issuer, this.config.env === 'production');
    if (problem) throw invalid('issuer', problem);
    try {
      await this.http.preflight(issuer);
    } catch (err) {
      if (!(err instanceof OutboundError)) throw err;
      if (err.kind === 'network') throw invalid('issuer', 'its host does not resolve');
      throw invalid(
        'issuer',
        'must not reach a private, loopback, link-local or reserved address (unless allowlisted in OUTBOUND_ALLOW_HOSTS)',
      );
    }
    return issuer;
  }
}
