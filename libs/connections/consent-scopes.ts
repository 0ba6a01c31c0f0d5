import type { ResolvedProvider } from '../oauth';
import type { ScopeReach } from '../policy';

/**
 * The scopes a connect flow asks the user for (issue 14, least privilege): the integration's
 * configured ones that some policy could ever allow, plus those the vault itself needs to work
 * (the entry's required scopes — a refresh token at Microsoft, Salesforce — and `openid` when the
 * account is identified by its ID token). Unbounded or not yet governed by any allow policy: all.
 */
export function consentScopes(p: ResolvedProvider, reach: ScopeReach): string[] {
  if (reach.kind !== 'bounded') return p.scopes;
  const needed = vaultNeeds(p);
  return p.scopes.filter((s) => reach.scopes.includes(s) || needed.includes(s));
}

/** The configured scopes no policy allows (for the admin; `none`: no allow names the integration, so none is). */
export function scopesNoPolicyAllows(p: ResolvedProvider, reach: ScopeReach): string[] {
  if (reach.kind === 'unbounded') return [];
  if (reach.kind === 'none') return p.scopes;
  return p.scopes.filter((s) => !reach.scopes.includes(s));
}

function vaultNeeds(p: ResolvedProvider): string[] {
  return [...p.entry.scopes.required, ...(p.entry.identity.source === 'id_token' ? ['openid'] : [])];
}
