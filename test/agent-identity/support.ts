import { randomUUID } from 'node:crypto';
import { TrustedIssuerRegistry } from '../../libs/auth';
import { TestIssuer } from '../support/issuer';
import { startTestVault, TestVault } from '../support/vault';

/** The vault tenant is the Entra tenant: the vault reads it from Entra's own `tid` claim. */
export const TENANT = '4c0a1d6e-58b1-4f0e-9d35-0b8f2a7c91e3';
export const VAULT = 'https://vault.test.example';
export const TOKEN_ENDPOINT = `${VAULT}/oauth2/token`;
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** The vault's application ID URI in Entra: what agent tokens for the vault carry as `aud`. */
export const VAULT_APP_ID_URI = 'api://credential-vault';
export const K8S_ISSUER = 'https://kubernetes.default.svc.cluster.local';

/**
 * An Entra ID tenant as the vault sees it: a v2.0 issuer whose agent identity tokens are shaped
 * after Microsoft's documented access-token and agent-identity claims (GUID `sub`/`oid`, `azp`
 * = the agent identity blueprint's app id, `idtyp: app`, `xms_*`), signed with a real key.
 */
export class EntraTenant {
  readonly issuer: TestIssuer;
  constructor(readonly tenantId = TENANT) {
    this.issuer = new TestIssuer(`https://login.microsoftonline.com/${tenantId}/v2.0`, VAULT_APP_ID_URI);
  }

  /** A token Entra issues to an agent identity (an app-only token: the agent acting as itself). */
  agentToken(agent: { oid: string; blueprintAppId: string }, extra: Record<string, unknown> = {}, ttl = 3600): string {
    const now = Math.floor(Date.now() / 1000);
    return this.issuer.sign(
      {
        aud: VAULT_APP_ID_URI,
        nbf: now - 5,
        aio: 'k2BgYDi8rLXzbd1zvTz+ZbAA',
        azp: agent.blueprintAppId,
        azpacr: '2',
        idp: `https://sts.windows.net/${this.tenantId}/`,
        idtyp: 'app',
        oid: agent.oid,
        rh: '1.AXEA…',
        roles: ['Vault.Connections.Read'],
        sub: agent.oid,
        tid: this.tenantId,
        uti: 'bTxC2Sd5zUmG6GmPnG4xAA',
        ver: '2.0',
        xms_act_fct: '3 11',
        xms_ftd: 'MTc2NzIyNTYwMA',
        xms_idrel: '7 14',
        xms_par_app_azp: agent.blueprintAppId,
        xms_sub_fct: '11 3',
        ...extra,
      },
      { ttl },
    );
  }
}

/** A Kubernetes projected service account token (`serviceAccountToken` volume with a vault audience). */
export class KubernetesCluster {
  readonly issuer = new TestIssuer(K8S_ISSUER, TOKEN_ENDPOINT);

  serviceAccountToken(namespace: string, name: string, extra: Record<string, unknown> = {}): string {
    const now = Math.floor(Date.now() / 1000);
    return this.issuer.sign({
      aud: [TOKEN_ENDPOINT],
      nbf: now,
      sub: `system:serviceaccount:${namespace}:${name}`,
      'kubernetes.io': {
        namespace,
        node: { name: 'aks-nodepool1-12345678-vmss000000', uid: randomUUID() },
        pod: { name: `${name}-7d4b9c6f5-x2kqj`, uid: randomUUID() },
        serviceaccount: { name, uid: randomUUID() },
      },
      ...extra,
    });
  }
}

export interface AgentIdentityWorld {
  v: TestVault;
  entra: EntraTenant;
  k8s: KubernetesCluster;
  admin(): string;
  /** A user's token for the vault from the tenant's IdP (the test issuer), roles included. */
  userToken(user: string, claims?: Record<string, unknown>): string;
  put(path: string, body: unknown): Promise<any>;
  token(
    params: Record<string, string | undefined>,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: any; headers: Headers }>;
  audit(
    action: string,
  ): Promise<Array<{ outcome: string; reason: string | null; agent: string | null; subject: string | null; details: any }>>;
  close(): Promise<void>;
}

/** The real vault on its own database, trusting an Entra tenant and a Kubernetes cluster as issuers besides the test IdP. */
export async function startWorld(): Promise<AgentIdentityWorld> {
  const v = await startTestVault({}, process.env.DEBUG_VAULT ? { logger: console } : {});
  const entra = new EntraTenant();
  const k8s = new KubernetesCluster();
  const registry = v.vault.app.get(TrustedIssuerRegistry);
  registry.register(entra.issuer.config({ tenant_claim: 'tid' }) as never);
  registry.register(k8s.issuer.config({ default_tenant: TENANT }) as never);
  const admin = () => v.issuer.adminToken(TENANT);
  return {
    v,
    entra,
    k8s,
    admin,
    userToken: (user, claims = {}) => v.issuer.sign({ sub: user, tid: TENANT, ...claims }),
    async put(path, body) {
      const res = await v.call('PUT', path, { token: admin(), body });
      if (res.status !== 200 && res.status !== 201) throw new Error(`PUT ${path} → ${res.status} ${res.text}`);
      return res.body;
    },
    async token(params, headers = {}) {
      const form = new URLSearchParams();
      for (const [k, val] of Object.entries(params)) if (val !== undefined) form.append(k, val);
      const res = await fetch(`${v.url}/oauth2/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: form.toString(),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
    },
    audit: (action) =>
      v.db.ds.query(
        `SELECT outcome, reason, agent, subject, details FROM vault.audit_events WHERE tenant = $1 AND action = $2 ORDER BY seq DESC`,
        [TENANT, action],
      ),
    close: () => v.close(),
  };
}

export function claimsOf(token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

export function basic(clientId: string, secret: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}` };
}
