import { z } from 'zod';

/**
 * One provider, as data. Every quirk of PROVIDERS.md is a field here, never a code branch:
 * the flow, the token parser and the refresher read these fields and nothing else.
 */

/** A dotted path into a JSON document (`authed_user.access_token`, `id_token_claims.tid`). */
const path = z.string().regex(/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/, 'must be a dotted path');
/**
 * Paths whose value is kept in clear (metadata, released with the token) or read as the account's
 * identity may not read a token, a secret or a field named like one (issue 14 §3). The verified
 * ID token's claims (`id_token_claims.*`) may be read; the raw `id_token` may not.
 */
const SECRET_SEGMENT = /token|secret|passw|signature|assertion|credential|private|api_?key|code_verifier|cookie|session/i;
const HARMLESS_SEGMENT = /^(token_type|[a-z_]*expires_(in|at)|[a-z_]*issued_at)$/i;
export function isReadablePath(p: string): boolean {
  return p.split('.').every((seg, i) => (i === 0 && seg === 'id_token_claims') || HARMLESS_SEGMENT.test(seg) || !SECRET_SEGMENT.test(seg));
}
export const READABLE_PATH_MESSAGE = 'must not read a token, a secret or a field named like one';
/** A path whose value the vault keeps in clear or shows. */
export const readablePath = path.refine(isReadablePath, { error: (issue) => `path "${String(issue.input)}" ${READABLE_PATH_MESSAGE}` });

/** An https URL that may contain `{param}` placeholders (declared in `params`, or `{client_id}`). */
const templatedUrl = z.string().regex(/^https:\/\/[A-Za-z0-9.{}_-]+(:[0-9]+)?(\/[A-Za-z0-9._~{}\/%-]*)?$/, 'must be an https URL template');
const clientAuth = z.enum(['client_secret_basic', 'client_secret_post', 'none']);
const separator = z.enum([' ', ',']);
/** Metadata names are plain identifiers and may never name a secret (they are stored and released in clear). */
const metadataName = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,39}$/)
  .refine((n) => !/token|secret|password|signature|webhook_url/.test(n), 'must not name a secret');

export const responseShapeSchema = z
  .object({
    accessToken: path.default('access_token'),
    refreshToken: path.default('refresh_token'),
    expiresIn: path.default('expires_in'),
    refreshTokenExpiresIn: path.default('refresh_token_expires_in'),
    /** Granted scopes; when absent the requested ones were granted (RFC 6749 §5.1). */
    scope: path.default('scope'),
    scopeSeparator: separator.default(' '),
    tokenType: path.default('token_type'),
    /** Errors that arrive with HTTP 200 and a false flag (Slack `ok:false`). `error` is always checked too. */
    okFlag: path.optional(),
  })
  .strict();

/**
 * A refresh response's differences from `response`: only the paths given. Not `responseShapeSchema.partial()`:
 * Zod 4 applies defaults inside optional fields, which would reset every path `response` changed.
 */
const responseOverridesSchema = z
  .object({
    accessToken: path,
    refreshToken: path,
    expiresIn: path,
    refreshTokenExpiresIn: path,
    scope: path,
    scopeSeparator: separator,
    tokenType: path,
    okFlag: path,
  })
  .partial()
  .strict();

export const identitySchema = z.discriminatedUnion('source', [
  z.object({ source: z.literal('none') }).strict(),
  /** Claims of the ID token from the token endpoint (received directly over TLS: OIDC Core 3.1.3.7). */
  z.object({ source: z.literal('id_token'), subject: readablePath.default('sub'), email: readablePath.optional() }).strict(),
  z.object({ source: z.literal('response'), subject: readablePath, email: readablePath.optional() }).strict(),
  z.object({ source: z.literal('userinfo'), url: templatedUrl, subject: readablePath, email: readablePath.optional() }).strict(),
]);

export const revocationSchema = z
  .object({
    url: templatedUrl,
    method: z.enum(['POST', 'DELETE']).default('POST'),
    /** Which token to revoke: revoking the refresh token ends the grant at most providers. */
    token: z.enum(['refresh_token', 'access_token']).default('refresh_token'),
    /** RFC 7009 is `form`; GitHub takes JSON; Dropbox, Linear and Zendesk a bearer header. */
    tokenIn: z.enum(['form', 'json', 'bearer']).default('form'),
    tokenParam: z
      .string()
      .regex(/^[a-z_]+$/)
      .default('token'),
    hint: z.boolean().default(true),
    clientAuth: clientAuth.default('none'),
  })
  .strict();

/**
 * How early access tokens are refreshed, unless a provider's catalog entry says otherwise: the one
 * place these defaults live (the worker's schedule, a fresh connection's first schedule, the release check).
 */
export const REFRESH_AHEAD = Object.freeze({ aheadSeconds: 300, releaseAheadSeconds: 60 });

export const providerEntrySchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{1,39}$/),
    displayName: z.string().min(1).max(80),
    docs: z.string().url().optional(),
    /** Values an integration supplies (`params`): URL template parts, tunables. Anchored patterns. */
    params: z
      .record(
        z.string().regex(/^[a-z_]+$/),
        z.object({ pattern: z.string(), default: z.string().optional(), description: z.string() }).strict(),
      )
      .default({}),
    authorizeUrl: templatedUrl,
    tokenUrl: templatedUrl,
    /** Expected `iss` (RFC 9207) when the provider sends one; `requireIss` rejects responses without it. */
    issuer: templatedUrl.optional(),
    requireIss: z.boolean().default(false),
    scopes: z
      .object({
        default: z.array(z.string()).default([]),
        /** Always requested (a refresh token needs `offline_access` at Microsoft, `refresh_token` at Salesforce). */
        required: z.array(z.string()).default([]),
        separator: separator.default(' '),
        /** The authorize parameter that carries them (Slack user tokens: `user_scope`). */
        param: z
          .string()
          .regex(/^[a-z_]+$/)
          .default('scope'),
        descriptions: z.record(z.string(), z.string()).default({}),
      })
      .strict(),
    /** Extra authorize parameters (Google `access_type=offline` + `prompt=consent`, Dropbox `token_access_type`). */
    authorizeParams: z.record(z.string(), z.string()).default({}),
    pkce: z.boolean().default(true),
    tokenAuthMethod: clientAuth,
    /** Body encoding of token requests (Notion takes JSON). */
    tokenEncoding: z.enum(['form', 'json']).default('form'),
    // `prefault`: `{}` is parsed, so the shape's own defaults fill it in (Zod 4's `default` would not parse it).
    response: responseShapeSchema.prefault({}),
    /** Where a refresh response differs from the code response (Slack user tokens come back top-level). */
    refreshResponse: responseOverridesSchema.optional(),
    /** Kept in clear and released with the token; re-read on every refresh (Salesforce `instance_url`). */
    metadata: z.record(metadataName, readablePath).default({}),
    /** Provider error codes that mean "the user must reconnect", besides the RFC 6749 ones. */
    terminalErrors: z.array(z.string()).default([]),
    refresh: z
      .object({
        supported: z.boolean(),
        rotation: z.enum(['never', 'always', 'optional']),
        /** The worker refreshes this long before the access token expires (default `REFRESH_AHEAD.aheadSeconds`). */
        aheadSeconds: z.number().int().min(30).max(86400).default(REFRESH_AHEAD.aheadSeconds),
        /**
         * A release refreshes first only with less than this left, or a quarter of the token's lifetime
         * when that is less (default `REFRESH_AHEAD.releaseAheadSeconds`): the worker's earlier window
         * keeps releases from waiting on a provider call.
         */
        releaseAheadSeconds: z.number().int().min(1).max(3600).default(REFRESH_AHEAD.releaseAheadSeconds),
        /** Providers that revoke refresh tokens left unused (Google: 6 months, Microsoft: 90 days) get a refresh at least this often. */
        keepAliveDays: z.number().int().min(1).max(365).optional(),
        /**
         * Seconds a rotating provider still accepts the previous refresh token after rotating it (Okta's
         * and Auth0's reuse interval, Xero's grace period); 0 = strict reuse detection. Within it, a
         * refresher taking over an interrupted call retries with the same token instead of flagging the row.
         */
        reuseGraceSeconds: z.number().int().min(0).max(3600).default(0),
      })
      .strict(),
    /** What "expired" means without `expires_in`: never (GitHub OAuth Apps), or an assumed lifetime. */
    expiry: z
      .object({
        whenMissing: z.union([
          z.literal('never'),
          z.object({ assumeSeconds: z.number().int().min(60), param: z.string().optional() }).strict(),
        ]),
        issuedAt: z
          .object({ path, unit: z.enum(['s', 'ms']) })
          .strict()
          .optional(),
      })
      .strict(),
    identity: identitySchema.default({ source: 'none' }),
    revocation: revocationSchema.optional(),
    /**
     * Whether a refresh may ask for a narrower scope set (RFC 6749 §6 `scope` on a `refresh_token`
     * grant) and get an access token carrying only that set: how a policy's scope ceiling binds the
     * credential itself. `source` is where the provider documents it (or why we say no): a built-in
     * entry says "yes" only on the provider's own word.
     */
    downscope: z.object({ onRefresh: z.boolean(), source: z.string().min(10).max(400) }).strict(),
  })
  .strict();

/**
 * The issues of a failed parse, one per problem. Zod 4 reports a bad record key as "Invalid key in
 * record" with the key's own issues nested (e.g. "must not name a secret"): those are the ones to show.
 */
export function issuesOf(error: z.ZodError): Array<{ path: PropertyKey[]; message: string }> {
  return error.issues.flatMap((i) =>
    i.code === 'invalid_key' ? i.issues.map((k) => ({ path: i.path, message: k.message })) : [{ path: i.path, message: i.message }],
  );
}

export type ProviderEntry = z.infer<typeof providerEntrySchema>;
export type ProviderEntryInput = z.input<typeof providerEntrySchema>;
export type ResponseShape = z.infer<typeof responseShapeSchema>;
export type ClientAuthMethod = z.infer<typeof clientAuth>;
export type Identity = z.infer<typeof identitySchema>;
export type Revocation = z.infer<typeof revocationSchema>;
