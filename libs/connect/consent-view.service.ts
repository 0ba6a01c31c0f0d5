import { Injectable } from '@nestjs/common';
import { AuditLog } from '../audit';
import { ConnectionStatus, ConnectionStore, consentScopes, Integration, IntegrationStore } from '../connections';
import { DomainError, TenantId } from '../kernel';
import { ProviderCatalog } from '../oauth';
import { AgentStore, PolicyDecisionPoint } from '../policy';
import { TenantProfileService } from '../tenants';
import { ConnectSession } from './connect-session.store';

export interface AgentGrant {
  name: string;
  clientId: string | null;
  /** A plain-words condition ("only when you have the role …"), or null. */
  condition: string | null;
}

/** Everything the consent page shows. Plain data: the page escapes it. */
export interface ConsentView {
  tenant: string;
  /** Who asks: the tenant's display name, or its id when none is set. */
  tenantName: string;
  /** The tenant's logo (https, validated when set), or null. */
  logoUrl: string | null;
  /** The user the link is for: the app's id for them, and the name the app gave, if any. */
  user: string;
  userDisplayName: string | null;
  integration: string;
  title: string;
  providerName: string;
  kind: 'oauth2' | 'api_key';
  /** Where the user will sign in (the authorize URL's host), so they can check it. */
  providerHost: string | null;
  scopes: Array<{ scope: string; description: string }>;
  agents: AgentGrant[];
  expectedEmail: string | null;
  returnHost: string | null;
}

export interface ConnectionRow {
  integration: string;
  title: string;
  kind: 'oauth2' | 'api_key';
  status: ConnectionStatus;
  connectedAt: Date;
  lastUsed: { agent: string; at: string } | null;
  /** The provider account: the e-mail the provider reported at connect time, else its account id, when known. */
  account: string | null;
  /** Granted scopes in plain words. */
  scopes: Array<{ scope: string; description: string }>;
  lastRefreshAt: Date | null;
}

/** OpenID Connect's standard scopes in plain words, for entries (custom ones) that do not describe them. */
const STANDARD_SCOPES: Record<string, string> = {
  openid: 'Confirm who you are',
  email: 'See your email address',
  profile: 'See your name and profile',
  offline_access: 'Keep access while you are away',
};

/** Reads for the consent and connections pages: integration, scopes in plain words, agents from policy, last use from audit. */
@Injectable()
export class ConsentViewService {
  constructor(
    private readonly integrations: IntegrationStore,
    private readonly connections: ConnectionStore,
    private readonly catalog: ProviderCatalog,
    private readonly agents: AgentStore,
    private readonly decisions: PolicyDecisionPoint,
    private readonly audit: AuditLog,
    private readonly tenants: TenantProfileService,
  ) {}

  /** How the tenant is shown on pages for people: its display name (else its id) and logo. */
  async tenantShown(tenant: TenantId): Promise<{ name: string; logoUrl: string | null }> {
    return this.tenants.shown(tenant);
  }

  async consent(s: ConnectSession): Promise<ConsentView> {
    const i = await this.integrations.get(s.tenant, s.integration);
    if (!i) throw new DomainError('integration_not_found', 'This integration no longer exists.');
    const entry = i.kind === 'oauth2' ? this.catalog.get(i.provider) : undefined;
    let providerHost: string | null = null;
    let scopes: ConsentView['scopes'] = [];
    if (entry) {
      const resolved = this.catalog.resolve(i.provider, i.config, String(i.config.client_id ?? ''));
      providerHost = new URL(resolved.authorizeUrl).host;
      const custom = (i.config.provider_options as { scope_descriptions?: Record<string, string> } | undefined)?.scope_descriptions ?? {};
      const asked = consentScopes(resolved, await this.decisions.reach(s.tenant, i.name));
      scopes = asked.map((scope) => ({
        scope,
        description: custom[scope] ?? entry.scopes.descriptions[scope] ?? STANDARD_SCOPES[scope] ?? `Access “${scope}”`,
      }));
    }
    const shown = await this.tenants.shown(s.tenant);
    return {
      tenant: s.tenant,
      tenantName: shown.name,
      logoUrl: shown.logoUrl,
      user: s.subject,
      userDisplayName: s.userDisplayName,
      integration: i.name,
      title: this.title(i),
      providerName: entry && entry.id !== 'custom-oauth2' ? entry.displayName : this.title(i),
      kind: i.kind,
      providerHost,
      scopes,
      agents: await this.agentsFor(s.tenant, i.name, s.subject),
      expectedEmail: s.expectedEmail,
      returnHost: s.returnUrl ? new URL(s.returnUrl).host : null,
    };
  }

  async connectionsOf(tenant: TenantId, subject: string): Promise<ConnectionRow[]> {
    const [rows, integrations] = await Promise.all([
      this.connections.list(tenant, { user: subject, limit: 200 }),
      this.integrations.list(tenant),
    ]);
    const byName = new Map(integrations.map((i) => [i.name, i]));
    const names = new Map((await this.agents.list(tenant)).map((a) => [a.client_id, a.name]));
    return Promise.all(
      rows.map(async (c) => ({
        integration: c.integration,
        title: byName.get(c.integration) ? this.title(byName.get(c.integration)!) : c.integration,
        kind: c.kind,
        status: c.status,
        connectedAt: c.createdAt,
        lastUsed: await this.lastUse(tenant, subject, c.integration, c.createdAt, names),
        account: c.providerAccountEmail ?? c.providerAccountId ?? (typeof c.metadata.email === 'string' ? c.metadata.email : null),
        scopes: c.scopes.map((scope) => ({ scope, description: this.describe(byName.get(c.integration), scope) })),
        lastRefreshAt: c.lastRefreshAt,
      })),
    );
  }

  /** Allowing policies for this integration and user, minus agents a deny without conditions excludes. */
  async agentsFor(tenant: TenantId, integration: string, subject: string): Promise<AgentGrant[]> {
    const reach = await this.decisions.agentReach(tenant, integration, subject);
    const names = new Map((await this.agents.list(tenant)).map((a) => [a.client_id, a.name]));
    return reach.map(({ agent, rolesAny }) => {
      const condition = rolesAny.length ? `only when you have the role ${rolesAny.join(' or ')}` : null;
      return agent === '*'
        ? { name: 'Any agent registered by this app', clientId: null, condition }
        : { name: names.get(agent) ?? agent, clientId: agent, condition };
    });
  }

  /** A provider scope in plain words, as the consent page words it. */
  private describe(i: Integration | undefined, scope: string): string {
    const entry = i?.kind === 'oauth2' ? this.catalog.get(i.provider) : undefined;
    const custom = (i?.config.provider_options as { scope_descriptions?: Record<string, string> } | undefined)?.scope_descriptions ?? {};
    return custom[scope] ?? entry?.scopes.descriptions[scope] ?? STANDARD_SCOPES[scope] ?? `Access “${scope}”`;
  }

  /** The display name of an integration of the tenant, or null (a name from a URL is never shown as is). */
  async titleOf(tenant: TenantId, name: string): Promise<string | null> {
    const i = await this.integrations.get(tenant, name);
    return i ? this.title(i) : null;
  }

  /** Since this connection was made: a disconnected and re-made one was not used by the old one's agents. */
  private async lastUse(
    tenant: TenantId,
    subject: string,
    integration: string,
    since: Date,
    names: Map<string, string>,
  ): Promise<ConnectionRow['lastUsed']> {
    try {
      const page = await this.audit.list(tenant, {
        action: 'credential.release',
        outcome: 'allowed',
        user: subject,
        integration,
        since: since.toISOString(),
        limit: 1,
      });
      const e = page.events[0];
      return e?.agent ? { agent: names.get(e.agent) ?? e.agent, at: e.at } : null;
    } catch {
      return null; // a user id the audit filter cannot express: show "not yet"
    }
  }

  private title(i: Integration): string {
    const display = typeof i.config.display_name === 'string' ? i.config.display_name : undefined;
    return display ?? this.catalog.get(i.provider)?.displayName ?? i.name;
  }
}
