import { DomainError } from '../kernel';

/** One scope of a resource: who may hold it, and whether a person must approve each issuance. */
export interface ResourceScope {
  description: string;
  /** The roles or groups (any of them) a user needs for a token carrying this scope; `*`: any signed-in user. */
  roles_any: string[];
  require_approval: boolean;
}

/** An API or MCP server of the tenant's that the vault issues access tokens for (RFC 8707, RFC 9068). */
export interface Resource {
  name: string;
  identifier: string;
  display_name: string;
  scopes: Record<string, ResourceScope>;
  token_ttl_seconds: number;
  /** Agents (client ids, or `*`) that may obtain its tokens by token exchange. */
  agents: string[];
}

/** A resource as the admin API takes it: omitted fields get their defaults. */
export interface ResourceInput {
  identifier: string;
  display_name: string;
  scopes: Record<string, { description?: string; roles_any: string[]; require_approval?: boolean }>;
  token_ttl_seconds?: number;
  agents?: string[];
}

export const DEFAULT_RESOURCE_TTL_SECONDS = 300;
const MAX_TTL = 86_400;
const MAX_SCOPES = 50;
/** RFC 6749 §3.3 scope-token. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
const ROLE = /^[^\s]{1,256}$/;

function invalid(field: string, message: string): never {
  throw new DomainError('validation_failed', `${field} ${message}`, { extra: { errors: [{ field, message }] } });
}

/**
 * The input checked and completed. `vaultTargets` are the vault's own identifiers: a resource may
 * not take one, or the vault would accept tokens it issued for someone else.
 */
export function toResource(name: string, input: ResourceInput, vaultTargets: readonly string[]): Resource {
  const identifier = checkIdentifier(input.identifier);
  if (vaultTargets.includes(identifier)) invalid('identifier', 'must not be the vault itself');
  if (typeof input.display_name !== 'string' || !input.display_name.trim() || input.display_name.length > 200)
    invalid('display_name', 'must be 1 to 200 characters');
  if (typeof input.scopes !== 'object' || input.scopes === null || Array.isArray(input.scopes)) invalid('scopes', 'must be an object');
  const entries = Object.entries(input.scopes);
  if (!entries.length || entries.length > MAX_SCOPES) invalid('scopes', `must name 1 to ${MAX_SCOPES} scopes`);
  const scopes: Record<string, ResourceScope> = {};
  for (const [scope, s] of entries) {
    const field = `scopes.${scope}`;
    if (!SCOPE_TOKEN.test(scope)) invalid(field, 'is not a valid scope name (RFC 6749 scope-token)');
    if (typeof s !== 'object' || s === null) invalid(field, 'must be an object');
    if (s.description !== undefined && (typeof s.description !== 'string' || s.description.length > 500))
      invalid(`${field}.description`, 'must be a string of at most 500 characters');
    // Fail closed: a scope names who may hold it; "*" says "anyone signed in" on purpose.
    if (!Array.isArray(s.roles_any) || !s.roles_any.length || s.roles_any.length > 50 || !s.roles_any.every((r) => ROLE.test(r)))
      invalid(`${field}.roles_any`, 'must list 1 to 50 roles or groups (or "*" for any signed-in user)');
    if (s.require_approval !== undefined && typeof s.require_approval !== 'boolean')
      invalid(`${field}.require_approval`, 'must be a boolean');
    scopes[scope] = {
      description: s.description ?? '',
      roles_any: [...new Set(s.roles_any)],
      require_approval: s.require_approval ?? false,
    };
  }
  const ttl = input.token_ttl_seconds ?? DEFAULT_RESOURCE_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL) invalid('token_ttl_seconds', `must be an integer from 1 to ${MAX_TTL}`);
  const agents = input.agents ?? [];
  if (!Array.isArray(agents) || agents.length > 100 || !agents.every((a) => a === '*' || NAME.test(a)))
    invalid('agents', 'must list at most 100 agent client ids or "*"');
  return { name, identifier, display_name: input.display_name.trim(), scopes, token_ttl_seconds: ttl, agents: [...new Set(agents)] };
}

/** RFC 8707 §2: an absolute URI without a fragment; https, or http on a loopback host (local development). */
function checkIdentifier(value: unknown): string {
  if (typeof value !== 'string' || value.length > 2048) invalid('identifier', 'must be an absolute https URL');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    invalid('identifier', 'must be an absolute https URL');
  }
  if (value.includes('#')) invalid('identifier', 'must not have a fragment (RFC 8707)');
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
    invalid('identifier', 'must be an https URL (http only on localhost)');
  if (url.username || url.password) invalid('identifier', 'must not carry credentials');
  return value;
}

/** Why a requested scope was left out of a resource token. */
export type ResourceRefusalReason = 'unknown_scope' | 'agent_not_allowed' | 'role_missing' | 'not_delegated' | 'approval_required';

export interface ResourceGrants {
  granted: string[];
  refused: Array<{ scope: string; reason: ResourceRefusalReason }>;
  /** The roles of the user that allowed each granted scope (the audit's inputs; at most two per scope). */
  roles: Array<{ scope: string; roles: string[] }>;
}

/**
 * Issuance-time policy for a resource token: each requested scope must be one of the resource's,
 * the agent (if an agent asks) must be allowed on the resource, the user must hold one of the
 * scope's roles, and a delegated subject token bounds what may be passed on. A refusal leaves the
 * scope out (the token shrinks, it never widens); an approval scope is refused unless approved.
 */
export function decideResourceScopes(
  resource: Resource,
  requested: readonly string[],
  who: { agent?: string; roles: readonly string[]; delegated?: readonly string[]; approved?: readonly string[] },
): ResourceGrants {
  const out: ResourceGrants = { granted: [], refused: [], roles: [] };
  const agentAllowed = who.agent === undefined || resource.agents.includes('*') || resource.agents.includes(who.agent);
  for (const scope of requested) {
    const s = resource.scopes[scope];
    if (!s) out.refused.push({ scope, reason: 'unknown_scope' });
    else if (!agentAllowed) out.refused.push({ scope, reason: 'agent_not_allowed' });
    else if (who.delegated && !who.delegated.includes(scope)) out.refused.push({ scope, reason: 'not_delegated' });
    else {
      const matched = s.roles_any.includes('*') ? ['*'] : s.roles_any.filter((r) => who.roles.includes(r));
      if (!matched.length) out.refused.push({ scope, reason: 'role_missing' });
      else if (s.require_approval && !who.approved?.includes(scope)) out.refused.push({ scope, reason: 'approval_required' });
      else {
        out.granted.push(scope);
        out.roles.push({ scope, roles: matched.slice(0, 2) });
      }
    }
  }
  return out;
}
