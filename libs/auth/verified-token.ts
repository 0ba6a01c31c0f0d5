import { asTenantId, TenantId } from '../kernel';
import { invalidToken } from './auth-errors';
import { isWellFormedIdentifier, lifetimeProblem } from './claim-checks';
import { IssuerEntry } from './trusted-issuer.registry';

/** A token whose signature, issuer, audience and lifetime have been checked. Deep-frozen at runtime (it is cached and shared). */
export interface VerifiedToken {
  readonly issuer: string;
  readonly tenant: TenantId;
  /** The user (`sub`). */
  readonly subject: string;
  /** The current actor: the OUTERMOST `act.sub`. Absent for user tokens. */
  readonly agent?: string;
  /** Every `act.sub`, outermost (current actor) first. */
  readonly actorChain: string[];
  /** From the space-separated `scope` (RFC 9068), else `scp` (string or array). */
  readonly scopes: string[];
  readonly jti?: string;
  /** `exp`, in seconds since the epoch. */
  readonly expiresAt: number;
  /** Every claim of the payload (roles, groups, ...). */
  readonly claims: Record<string, unknown>;
}

const MAX_ACTOR_DEPTH = 16;

/**
 * The checks jsonwebtoken does not make, and the mapping to `VerifiedToken`.
 * Call only with a payload whose signature was verified with `issuer`'s key.
 */
export function toVerifiedToken(
  payload: Record<string, unknown>,
  issuer: IssuerEntry,
  nowSeconds: number,
  skewSeconds: number,
  maxLifetimeSeconds: number,
): VerifiedToken {
  if (payload.iss !== issuer.issuer) throw invalidToken('token issuer is not trusted');
  // jsonwebtoken accepts a token without `exp` as never expiring; we do not.
  if (payload.exp === undefined) throw invalidToken('token has no expiry');
  const lifetime = lifetimeProblem(payload, nowSeconds, maxLifetimeSeconds);
  if (lifetime) throw invalidToken(lifetime);
  if (typeof payload.iat === 'number' && payload.iat > nowSeconds + skewSeconds) throw invalidToken('token issue time is invalid');
  if (payload.sub === undefined || payload.sub === '') throw invalidToken('token has no subject');
  if (!isWellFormedIdentifier(payload.sub)) throw invalidToken('token subject is not a valid identifier');
  if (payload.jti !== undefined && !isWellFormedIdentifier(payload.jti)) throw invalidToken('token id is invalid');
  if (payload.client_id !== undefined && !isWellFormedIdentifier(payload.client_id))
    throw invalidToken('token client_id is not a valid identifier');

  const actorChain = actorsOf(payload.act);
  return deepFreeze({
    issuer: issuer.issuer,
    tenant: tenantOf(payload, issuer),
    subject: payload.sub,
    ...(actorChain.length ? { agent: actorChain[0] } : {}),
    actorChain,
    scopes: scopesOf(payload),
    ...(payload.jti !== undefined ? { jti: payload.jti } : {}),
    expiresAt: payload.exp as number,
    claims: payload,
  });
}

function tenantOf(payload: Record<string, unknown>, issuer: IssuerEntry): TenantId {
  const claimed = payload[issuer.tenantClaim];
  // A present but non-string claim is refused rather than silently mapped to the default tenant.
  if (claimed !== undefined && typeof claimed !== 'string') throw invalidToken('token tenant is not valid');
  const tenant = claimed ?? issuer.defaultTenant;
  if (tenant === undefined) throw invalidToken('token has no tenant');
  try {
    return asTenantId(tenant);
  } catch {
    throw invalidToken('token tenant is not valid');
  }
}

/**
 * `act.sub`, `act.act.sub`, ... outermost first (RFC 8693 §4.1). Every `act` present must be an
 * object with a well-formed `sub`: a string, array, `{}` or empty `sub` is an invalid token,
 * never "no actor" (which would skip the delegation checks).
 */
function actorsOf(act: unknown): string[] {
  const chain: string[] = [];
  let level = act;
  while (level !== undefined) {
    if (!isObject(level) || !isWellFormedIdentifier(level.sub)) throw invalidToken('token act claim is malformed');
    if (chain.length === MAX_ACTOR_DEPTH) throw invalidToken('token actor chain is too deep');
    chain.push(level.sub);
    level = level.act;
  }
  return chain;
}

function scopesOf(payload: Record<string, unknown>): string[] {
  const raw = payload.scope !== undefined ? payload.scope : payload.scp;
  const list = typeof raw === 'string' ? raw.split(' ') : Array.isArray(raw) ? raw : [];
  return [...new Set(list.filter((s): s is string => typeof s === 'string' && s.length > 0))];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
