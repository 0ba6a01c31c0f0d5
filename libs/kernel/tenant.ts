/**
 * A tenant id. Branded so that repository methods that take a `TenantId` cannot be
 * called with an arbitrary string by accident: it comes from a verified token.
 */
export type TenantId = string & { readonly __brand: 'TenantId' };

const TENANT_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export function asTenantId(value: string): TenantId {
  if (!TENANT_RE.test(value)) throw new Error('invalid tenant id');
  return value as TenantId;
}
