import { z } from 'zod';
import { identitySchema, ProviderEntryInput, readablePath } from './entry.schema';

/**
 * `custom-oauth2`: the same entry as the catalog's, written by a tenant admin. The URLs are the
 * integration's `authorize_url` / `token_url` / `revocation_url`; every quirk is an optional
 * field of `provider_options`, with the RFC 6749 defaults below.
 */
export const CUSTOM_PROVIDER = 'custom-oauth2';

const path = z.string().regex(/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/);
const RESERVED_PARAMS = ['response_type', 'client_id', 'redirect_uri', 'state', 'scope', 'code_challenge', 'code_challenge_method'];

function noUserInfo(url: string): boolean {
  try {
    const u = new URL(url);
    return !u.username && !u.password;
  } catch {
    return true; // .url() reports it
  }
}

export const customOptionsSchema = z
  .object({
    issuer: z.string().url().max(512).refine(noUserInfo, 'must not carry user info (user:password@)').optional(),
    require_iss: z.boolean().optional(),
    pkce: z.boolean().optional(),
    token_auth_method: z.enum(['client_secret_basic', 'client_secret_post', 'none']).optional(),
    token_encoding: z.enum(['form', 'json']).optional(),
    scope_separator: z.enum([' ', ',']).optional(),
    authorize_params: z
      .record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), z.string().max(512))
      .refine((o) => Object.keys(o).length <= 20, 'at most 20 parameters')
      .refine(
        (o) => !Object.keys(o).some((k) => RESERVED_PARAMS.includes(k)),
        'must not set response_type, client_id, redirect_uri, state, scope or PKCE parameters',
      )
      .optional(),
    metadata: z
      .record(
        z
          .string()
          .regex(/^[a-z][a-z0-9_]{0,39}$/)
          .refine((n) => !/token|secret|password|signature|webhook_url/.test(n), 'must not name a secret'),
        readablePath,
      )
      .refine((o) => Object.keys(o).length <= 20, 'at most 20 fields')
      .optional(),
    /** Seconds a token is assumed valid when the response has no `expires_in`; null = never expires. */
    expires_in_when_missing: z.number().int().min(60).max(31_536_000).nullable().optional(),
    issued_at: z
      .object({ path, unit: z.enum(['s', 'ms']) })
      .strict()
      .optional(),
    refresh_rotation: z.enum(['never', 'always', 'optional']).optional(),
    /** Seconds the provider still accepts a rotated-away refresh token (its reuse interval); 0 or absent = none. */
    refresh_reuse_grace_seconds: z.number().int().min(0).max(3600).optional(),
    /** The worker refreshes this long before the access token expires (the catalog's `refresh.aheadSeconds`; default 300). */
    refresh_ahead_seconds: z.number().int().min(30).max(86400).optional(),
    /** A release refreshes first with less than this left (or a quarter of the token's life): `refresh.releaseAheadSeconds`; default 60. */
    refresh_release_ahead_seconds: z.number().int().min(1).max(3600).optional(),
    terminal_errors: z
      .array(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/))
      .max(20)
      .optional(),
    identity: identitySchema.optional(),
    scope_descriptions: z.record(z.string().max(256), z.string().max(200)).optional(),
    /** The provider honours `scope` on a refresh_token grant (RFC 6749 §6) with a token for only that set. Default false: refuse. */
    downscope_on_refresh: z.boolean().optional(),
  })
  .strict();

export type CustomOptions = z.infer<typeof customOptionsSchema>;

/** A custom integration's refresh windows, as the catalog's `refresh` fields (absent: the defaults, `REFRESH_AHEAD`). */
export function customWindow(o: Pick<CustomOptions, 'refresh_ahead_seconds' | 'refresh_release_ahead_seconds'>): {
  aheadSeconds?: number;
  releaseAheadSeconds?: number;
} {
  return {
    ...(o.refresh_ahead_seconds !== undefined ? { aheadSeconds: o.refresh_ahead_seconds } : {}),
    ...(o.refresh_release_ahead_seconds !== undefined ? { releaseAheadSeconds: o.refresh_release_ahead_seconds } : {}),
  };
}

/** The entry for one custom integration. Its URLs are placeholders: `resolve` uses the integration's own. */
export function customEntry(o: CustomOptions, withRevocation: boolean): ProviderEntryInput {
  return {
    id: CUSTOM_PROVIDER,
    displayName: 'OAuth 2.0 provider',
    authorizeUrl: 'https://custom.invalid/authorize',
    tokenUrl: 'https://custom.invalid/token',
    ...(o.issuer ? { issuer: 'https://custom.invalid/issuer' } : {}),
    requireIss: o.require_iss ?? false,
    scopes: { separator: o.scope_separator ?? ' ', descriptions: o.scope_descriptions ?? {} },
    authorizeParams: o.authorize_params ?? {},
    pkce: o.pkce ?? true,
    tokenAuthMethod: o.token_auth_method ?? 'client_secret_basic',
    tokenEncoding: o.token_encoding ?? 'form',
    response: { scopeSeparator: o.scope_separator ?? ' ' },
    metadata: o.metadata ?? {},
    terminalErrors: o.terminal_errors ?? [],
    refresh: {
      supported: true,
      rotation: o.refresh_rotation ?? 'optional',
      reuseGraceSeconds: o.refresh_reuse_grace_seconds ?? 0,
      ...customWindow(o),
    },
    expiry: {
      whenMissing: o.expires_in_when_missing === null ? 'never' : { assumeSeconds: o.expires_in_when_missing ?? 3600 },
      ...(o.issued_at ? { issuedAt: o.issued_at } : {}),
    },
    identity: o.identity ?? { source: 'none' },
    downscope: {
      onRefresh: o.downscope_on_refresh ?? false,
      source: 'provider_options.downscope_on_refresh of the integration (the tenant admin)',
    },
    // RFC 7009 at the integration's revocation_url, authenticated like the token endpoint.
    ...(withRevocation
      ? {
          revocation: {
            url: 'https://custom.invalid/revoke',
            token: 'refresh_token',
            clientAuth: o.token_auth_method ?? 'client_secret_basic',
          },
        }
      : {}),
  };
}

export const customEntryBase: ProviderEntryInput = customEntry({}, false);
