/**
 * What a release may hand out for an OAuth connection, given what the provider granted, the
 * policies' scope ceiling (null: none) and the body's `scopes` (DESIGN.md "policy": a ceiling binds
 * the credential itself — a downscoped token, or a refusal, never a broader token with a narrower
 * label).
 *
 * - `as_granted`: the stored token already carries exactly the allowed set.
 * - `narrowed`: a token for `scopes` (a strict, non-empty subset of the grant) must be obtained.
 * - `refused`: `scope_missing` when the body asks for scopes never granted, `scope_exceeds_policy`
 *   when it asks beyond the ceiling or nothing granted lies under it; `excess` names the scopes.
 */
export type ScopePlan =
  | { kind: 'as_granted'; scopes: string[] }
  | { kind: 'narrowed'; scopes: string[] }
  | { kind: 'refused'; code: 'scope_missing' | 'scope_exceeds_policy'; excess: string[] };

export function planScopes(granted: readonly string[], ceiling: readonly string[] | null, requested?: readonly string[]): ScopePlan {
  const grant = unique(granted);
  if (requested) {
    const ungranted = unique(requested).filter((s) => !grant.includes(s));
    if (ungranted.length) return { kind: 'refused', code: 'scope_missing', excess: ungranted };
    const over = ceiling ? unique(requested).filter((s) => !ceiling.includes(s)) : [];
    if (over.length) return { kind: 'refused', code: 'scope_exceeds_policy', excess: over };
  }
  const target = requested ? grant.filter((s) => requested.includes(s)) : ceiling ? grant.filter((s) => ceiling.includes(s)) : grant;
  if (target.length === grant.length) return { kind: 'as_granted', scopes: grant };
  // A token for no scope at all is no token: nothing the connection holds is allowed.
  if (target.length === 0) return { kind: 'refused', code: 'scope_exceeds_policy', excess: grant };
  return { kind: 'narrowed', scopes: target };
}

/** The scopes of `granted` a narrowed token leaves out: what a refusal names. */
export function excessOf(granted: readonly string[], allowed: readonly string[]): string[] {
  return unique(granted).filter((s) => !allowed.includes(s));
}

/** One key per scope set, whatever the order it was asked in. */
export function scopeSetKey(scopes: readonly string[]): string {
  return unique(scopes).sort().join(' ');
}

/** `[...new Set(list)]`; a short list without repeats (the usual grant) is copied without the `Set`. */
function unique(list: readonly string[]): string[] {
  if (list.length > 16) return [...new Set(list)];
  for (let i = 1; i < list.length; i++) if (list.indexOf(list[i]) < i) return [...new Set(list)];
  return list.slice();
}
