import { Secret } from '../../kernel';
import { ProviderEntry, ResponseShape } from '../catalog/entry.schema';
import type { ProviderResponse } from '../outbound/provider-http.client';
import { stringAt, valueAt } from './paths';
import { providerErrorCode, ProviderError, TERMINAL_ERRORS } from './provider-error';

/** A token response, read through its catalog entry into what the vault stores. */
export interface ParsedGrant {
  accessToken: Secret;
  /** Absent when the provider issued none (or, on refresh, did not rotate it). */
  refreshToken: Secret | null;
  tokenType: string;
  expiresAt: Date | null;
  refreshTokenExpiresAt: Date | null;
  scopes: string[];
  metadata: Record<string, string | number | boolean>;
  /** Who the account is, where the entry reads it from the response or the ID token. */
  identity: { subject: string | null; email: string | null };
}

export interface ParseContext {
  entry: ProviderEntry;
  /** `code` reads `response`; `refresh` reads `response` overridden by `refreshResponse`. */
  kind: 'code' | 'refresh';
  /** What was asked for (or, on refresh, what was granted before): the grant when `scope` is absent. */
  requestedScopes: string[];
  assumedLifetimeSeconds: number | null;
  clientId: string;
  issuer?: string;
  now: Date;
}

const MAX_METADATA_CHARS = 2048;

/**
 * Always parses the body, also on HTTP 200 (GitHub and Slack report errors there), then
 * classifies failures: 5xx/429/timeouts are transient, RFC 6749 and entry-listed codes terminal.
 * Throws `ProviderError`; its message never carries the body.
 */
export function parseTokenResponse(res: ProviderResponse, ctx: ParseContext): ParsedGrant {
  const doc = parseBody(res);
  const shape: ResponseShape = { ...ctx.entry.response, ...(ctx.kind === 'refresh' ? ctx.entry.refreshResponse : {}) };
  if (res.status === 429) throw new ProviderError('transient', 'rate_limited', 429, retryAfter(res));
  if (res.status >= 500) throw new ProviderError('transient', 'server_error', res.status, retryAfter(res));
  const error = doc && typeof doc.error === 'string' ? doc.error : undefined;
  const notOk = shape.okFlag !== undefined && valueAt(doc, shape.okFlag) === false;
  if (error !== undefined || notOk)
    throw classify(ctx.entry, error !== undefined ? providerErrorCode(error, ctx.entry.terminalErrors) : 'not_ok', res.status);
  if (res.status >= 300 && res.status < 400) throw new ProviderError('transient', 'unexpected_redirect', res.status);
  if (res.status === 401) throw new ProviderError('terminal', 'invalid_client', 401);
  if (res.status < 200 || res.status >= 300 || !doc)
    throw new ProviderError('transient', res.status >= 300 ? `http_${res.status}` : 'invalid_response', res.status);

  const access = valueAt(doc, shape.accessToken);
  if (typeof access !== 'string' || access.length === 0) throw new ProviderError('transient', 'invalid_response', res.status);
  const refresh = valueAt(doc, shape.refreshToken);
  const claims = idTokenClaims(doc.id_token, ctx);
  const view = { ...doc, id_token_claims: claims ?? {} };
  const base = issuedAt(doc, ctx);
  const expiresIn = seconds(valueAt(doc, shape.expiresIn));
  const rtExpiresIn = seconds(valueAt(doc, shape.refreshTokenExpiresIn));
  return {
    accessToken: Secret.of(access),
    refreshToken: typeof refresh === 'string' && refresh.length > 0 ? Secret.of(refresh) : null,
    tokenType: stringAt(doc, shape.tokenType) ?? 'Bearer',
    expiresAt:
      expiresIn !== undefined ? at(ctx.now, expiresIn) : ctx.assumedLifetimeSeconds !== null ? at(base, ctx.assumedLifetimeSeconds) : null,
    refreshTokenExpiresAt: rtExpiresIn !== undefined ? at(ctx.now, rtExpiresIn) : null,
    scopes: grantedScopes(valueAt(doc, shape.scope), shape.scopeSeparator, ctx.requestedScopes),
    metadata: metadata(ctx.entry, view),
    identity: identity(ctx.entry, view),
  };
}

function parseBody(res: ProviderResponse): Record<string, unknown> | undefined {
  const text = res.body.toString('utf8');
  if (!text.trim()) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    // Some providers answer form-encoded without `Accept: application/json` (GitHub once did).
    if (!/application\/x-www-form-urlencoded|text\/plain/i.test(res.contentType)) return undefined;
    return Object.fromEntries(new URLSearchParams(text));
  }
}

function classify(entry: ProviderEntry, code: string, status: number): ProviderError {
  const terminal = TERMINAL_ERRORS.includes(code) || entry.terminalErrors.includes(code);
  return new ProviderError(terminal ? 'terminal' : 'transient', code, status);
}

function retryAfter(res: ProviderResponse): number | undefined {
  const v = Number(res.headers['retry-after']);
  return Number.isFinite(v) && v >= 0 ? Math.min(v, 3600) : undefined;
}

/** A positive number of seconds, as a number or a string of digits; 0 and garbage mean "not given". */
function seconds(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^[0-9]{1,10}$/.test(v) ? Number(v) : NaN;
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

function at(base: Date, s: number): Date {
  return new Date(base.getTime() + s * 1000);
}

/** Salesforce's `issued_at` (ms) dates an assumed lifetime; an implausible one is ignored. */
function issuedAt(doc: Record<string, unknown>, ctx: ParseContext): Date {
  const spec = ctx.entry.expiry.issuedAt;
  const v = spec ? valueAt(doc, spec.path) : undefined;
  const raw = typeof v === 'number' ? v : typeof v === 'string' && /^[0-9]{1,16}$/.test(v) ? Number(v) : undefined;
  if (!spec || raw === undefined || !Number.isFinite(raw)) return ctx.now;
  const t = spec.unit === 'ms' ? raw : raw * 1000;
  return t > ctx.now.getTime() - 86_400_000 && t < ctx.now.getTime() + 300_000 ? new Date(t) : ctx.now;
}

function grantedScopes(v: unknown, sep: ' ' | ',', requested: string[]): string[] {
  if (Array.isArray(v)) return [...new Set(v.filter((s): s is string => typeof s === 'string' && s.length > 0))];
  if (typeof v !== 'string') return requested;
  return [...new Set(v.split(sep === ',' ? /[,\s]+/ : /\s+/).filter(Boolean))];
}

function metadata(entry: ProviderEntry, view: Record<string, unknown>): ParsedGrant['metadata'] {
  const out: ParsedGrant['metadata'] = {};
  for (const [name, path] of Object.entries(entry.metadata)) {
    const v = valueAt(view, path);
    if (
      (typeof v === 'string' && v.length <= MAX_METADATA_CHARS) ||
      typeof v === 'boolean' ||
      (typeof v === 'number' && Number.isFinite(v))
    )
      out[name] = v;
  }
  return out;
}

function identity(entry: ProviderEntry, view: Record<string, unknown>): ParsedGrant['identity'] {
  const id = entry.identity;
  if (id.source !== 'id_token' && id.source !== 'response') return { subject: null, email: null };
  const doc = id.source === 'id_token' ? view.id_token_claims : view;
  return { subject: stringAt(doc, id.subject) ?? null, email: id.email ? (stringAt(doc, id.email) ?? null) : null };
}

/**
 * The ID token's claims. It came straight from the token endpoint, so TLS authenticates it
 * (OIDC Core 3.1.3.7 step 6); its issuer and audience are still checked.
 */
function idTokenClaims(raw: unknown, ctx: ParseContext): Record<string, unknown> | null {
  if (typeof raw !== 'string') return null;
  const parts = raw.split('.');
  let claims: unknown;
  try {
    claims = parts.length === 3 ? JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) : undefined;
  } catch {
    claims = undefined;
  }
  if (!claims || typeof claims !== 'object' || Array.isArray(claims)) throw new ProviderError('terminal', 'invalid_id_token');
  const c = claims as Record<string, unknown>;
  const aud = Array.isArray(c.aud) ? c.aud : [c.aud];
  // Google writes `iss` with or without the scheme; both name the same issuer.
  const issOk = ctx.issuer === undefined || c.iss === ctx.issuer || `https://${String(c.iss)}` === ctx.issuer;
  if (!aud.includes(ctx.clientId) || !issOk) throw new ProviderError('terminal', 'invalid_id_token');
  return c;
}
