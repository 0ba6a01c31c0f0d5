import { DomainError } from '../../kernel';
import { asana, box, dropbox, hubspot, intercom, zendesk, zoom } from './entries/business';
import { atlassian, github, githubApp, gitlab, linear, notion, slack, slackUser } from './entries/collaboration';
import { google, microsoft, salesforceMyDomain, salesforceProduction, salesforceSandbox } from './entries/enterprise';
import { CUSTOM_PROVIDER, customEntry, customEntryBase, customOptionsSchema, customWindow } from './custom';
import { issuesOf, ProviderEntry, ProviderEntryInput, providerEntrySchema, REFRESH_AHEAD } from './entry.schema';

export const API_KEY_PROVIDER = 'api_key';

export const BUILT_IN_ENTRIES: readonly ProviderEntryInput[] = [
  google,
  microsoft,
  salesforceProduction,
  salesforceSandbox,
  salesforceMyDomain,
  github,
  githubApp,
  slack,
  slackUser,
  atlassian,
  hubspot,
  notion,
  zoom,
  dropbox,
  box,
  linear,
  asana,
  zendesk,
  intercom,
  gitlab,
  customEntryBase,
];

/** An entry with its URLs filled in for one integration. */
export interface ResolvedProvider {
  entry: ProviderEntry;
  /** custom-oauth2: the URLs were written by a tenant admin. */
  custom: boolean;
  authorizeUrl: string;
  tokenUrl: string;
  revocationUrl?: string;
  userinfoUrl?: string;
  issuer?: string;
  /** Scopes to request: the integration's (or the entry's defaults) plus the entry's required ones. */
  scopes: string[];
  /** Seconds a token is assumed valid when the response has no `expires_in`; null: it does not expire. */
  assumedLifetimeSeconds: number | null;
}

export interface FieldError {
  field: string;
  message: string;
}

/** Only ever placed in a URL after its anchored pattern matched; this is the belt to those braces. */
const URL_SAFE_VALUE = /^[A-Za-z0-9._-]{1,253}$/;
const RESERVED_PARAMS = ['response_type', 'client_id', 'redirect_uri', 'state', 'code_challenge', 'code_challenge_method'];

/**
 * The provider catalog: every entry validated when the catalog is built (a bad entry stops
 * the process at boot), looked up by id, and resolved against an integration's settings.
 *
 * @example
 *   const p = catalog.resolve('microsoft', { params: { tenant: 'contoso.onmicrosoft.com' } }, clientId);
 *   p.tokenUrl // https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token
 */
export class ProviderCatalog {
  private readonly entries = new Map<string, ProviderEntry>();

  constructor(inputs: readonly ProviderEntryInput[] = BUILT_IN_ENTRIES) {
    for (const input of inputs) {
      const entry = validateEntry(input);
      if (this.entries.has(entry.id) || entry.id === API_KEY_PROVIDER) throw new Error(`provider catalog: duplicate id ${entry.id}`);
      this.entries.set(entry.id, entry);
    }
  }

  /** OAuth provider ids, catalog order. */
  ids(): string[] {
    return [...this.entries.keys()];
  }

  get(id: string): ProviderEntry | undefined {
    return this.entries.get(id);
  }

  /**
   * How early a provider's tokens are refreshed: its catalog entry's `refresh` window, or for a
   * custom integration its `provider_options` (`refresh_ahead_seconds`, `refresh_release_ahead_seconds`,
   * validated when the integration was stored); the defaults for an unknown id or unreadable options.
   */
  refreshWindow(
    id: string | null | undefined,
    providerOptions?: unknown,
  ): Pick<ProviderEntry['refresh'], 'aheadSeconds' | 'releaseAheadSeconds' | 'keepAliveDays'> {
    if (id === CUSTOM_PROVIDER && providerOptions) {
      const o = customOptionsSchema.safeParse(providerOptions);
      if (o.success) return { ...REFRESH_AHEAD, ...customWindow(o.data) };
    }
    return (id ? this.entries.get(id)?.refresh : undefined) ?? REFRESH_AHEAD;
  }

  /** The problems with an integration's provider settings (empty when it resolves). */
  check(provider: string, config: Record<string, unknown>): FieldError[] {
    try {
      this.resolve(provider, config, String(config.client_id ?? 'client'));
      return [];
    } catch (err) {
      if (err instanceof DomainError)
        return (err.details.extra?.errors as FieldError[] | undefined) ?? [{ field: 'provider', message: err.detail }];
      throw err;
    }
  }

  /** Fills in an entry for one integration. Throws `validation_failed` naming each bad field. */
  resolve(provider: string, config: Record<string, unknown>, clientId: string): ResolvedProvider {
    const base = this.entries.get(provider);
    if (!base) throw invalid([{ field: 'provider', message: 'is not in the provider catalog' }]);
    const errors: FieldError[] = [];
    if (provider === CUSTOM_PROVIDER) return this.resolveCustom(config, errors);
    const params = resolveParams(base, config.params, errors);
    if (errors.length) throw invalid(errors);
    const fill = (url: string) =>
      url.replace(/\{([a-z_]+)\}/g, (_m, name: string) => (name === 'client_id' ? encodeURIComponent(clientId) : params[name]));
    return {
      entry: base,
      custom: false,
      authorizeUrl: fill(base.authorizeUrl),
      tokenUrl: fill(base.tokenUrl),
      revocationUrl: base.revocation ? fill(base.revocation.url) : undefined,
      userinfoUrl: base.identity.source === 'userinfo' ? fill(base.identity.url) : undefined,
      issuer: base.issuer ? fill(base.issuer) : undefined,
      scopes: requestedScopes(base, config.scopes),
      assumedLifetimeSeconds: lifetime(base, params),
    };
  }

  private resolveCustom(config: Record<string, unknown>, errors: FieldError[]): ResolvedProvider {
    const parsed = customOptionsSchema.safeParse(config.provider_options ?? {});
    if (!parsed.success)
      for (const i of issuesOf(parsed.error)) errors.push({ field: ['provider_options', ...i.path].join('.'), message: i.message });
    for (const field of ['authorize_url', 'token_url'] as const)
      if (typeof config[field] !== 'string') errors.push({ field, message: 'is required for custom-oauth2' });
    if (errors.length || !parsed.success) throw invalid(errors);
    const o = parsed.data;
    const entry = validateEntry(customEntry(o, typeof config.revocation_url === 'string'));
    return {
      entry,
      custom: true,
      authorizeUrl: config.authorize_url as string,
      tokenUrl: config.token_url as string,
      revocationUrl: typeof config.revocation_url === 'string' ? config.revocation_url : undefined,
      userinfoUrl: o.identity?.source === 'userinfo' ? o.identity.url : undefined,
      issuer: o.issuer,
      scopes: requestedScopes(entry, config.scopes),
      assumedLifetimeSeconds: lifetime(entry, {}),
    };
  }
}

function resolveParams(entry: ProviderEntry, raw: unknown, errors: FieldError[]): Record<string, string> {
  const given = raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  if (raw !== undefined && given !== raw) errors.push({ field: 'params', message: 'must be an object of strings' });
  const out: Record<string, string> = {};
  for (const name of Object.keys(given))
    if (!entry.params[name]) errors.push({ field: `params.${name}`, message: `is not a parameter of ${entry.id}` });
  for (const [name, spec] of Object.entries(entry.params)) {
    const value = given[name] ?? spec.default;
    if (value === undefined) errors.push({ field: `params.${name}`, message: `is required: ${spec.description}` });
    else if (typeof value !== 'string' || !new RegExp(spec.pattern).test(value) || !URL_SAFE_VALUE.test(value))
      errors.push({ field: `params.${name}`, message: `must match ${spec.pattern}` });
    else out[name] = value;
  }
  return out;
}

function requestedScopes(entry: ProviderEntry, configured: unknown): string[] {
  const chosen = Array.isArray(configured) ? configured.filter((s): s is string => typeof s === 'string') : entry.scopes.default;
  return [...new Set([...chosen, ...entry.scopes.required])];
}

function lifetime(entry: ProviderEntry, params: Record<string, string>): number | null {
  const m = entry.expiry.whenMissing;
  if (m === 'never') return null;
  return m.param && params[m.param] ? Number(params[m.param]) : m.assumeSeconds;
}

function invalid(errors: FieldError[]): DomainError {
  return new DomainError('validation_failed', `Invalid provider settings: ${[...new Set(errors.map((e) => e.field))].join(', ')}`, {
    extra: { errors },
  });
}

/**
 * Whether the vault asks this provider for a narrower access token on refresh (a policy's scope
 * ceiling, a release's narrower `scopes`): documented by the provider (`downscope.onRefresh`) and
 * refresh is supported. A rotated refresh token from such a call is committed by the refresher.
 */
export function downscopable(entry: ProviderEntry): boolean {
  return entry.refresh.supported && entry.downscope.onRefresh;
}

/** Schema, placeholders, parameter patterns, reserved authorize parameters: all checked at load. */
export function validateEntry(input: ProviderEntryInput): ProviderEntry {
  const parsed = providerEntrySchema.safeParse(input);
  if (!parsed.success)
    throw new Error(
      `provider catalog: ${String(input.id)}: ${issuesOf(parsed.error)
        .map((i) => `${i.path.join('.')} ${i.message}`)
        .join('; ')}`,
    );
  const e = parsed.data;
  const fail = (why: string): never => {
    throw new Error(`provider catalog: ${e.id}: ${why}`);
  };
  const urls = [e.authorizeUrl, e.tokenUrl, e.issuer, e.revocation?.url, e.identity.source === 'userinfo' ? e.identity.url : undefined];
  for (const url of urls)
    for (const m of (url ?? '').matchAll(/\{([a-z_]+)\}/g))
      if (m[1] !== 'client_id' && !e.params[m[1]]) fail(`undeclared URL parameter {${m[1]}}`);
  for (const [name, p] of Object.entries(e.params)) {
    if (!p.pattern.startsWith('^') || !p.pattern.endsWith('$')) fail(`params.${name}: pattern must be anchored`);
    if (p.default !== undefined && !new RegExp(p.pattern).test(p.default)) fail(`params.${name}: default does not match its pattern`);
  }
  for (const k of Object.keys(e.authorizeParams))
    if (RESERVED_PARAMS.includes(k) || k === e.scopes.param) fail(`authorizeParams.${k} is set by the flow`);
  const m = e.expiry.whenMissing;
  if (m !== 'never' && m.param && !e.params[m.param]) fail(`expiry.whenMissing.param ${m.param} is not declared`);
  return deepFreeze(e);
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}
