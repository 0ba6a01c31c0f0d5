import { z } from 'zod';
import { matching, TENANT } from '../http/fields';

/** Operators only: another tenant than the token's. */
const otherTenant = () =>
  matching(TENANT).optional().meta({ description: "Operators (vault:operator) only: another tenant than the token's" });

export const RotateKeysDto = z
  .strictObject({
    target: z.enum(['kek', 'tenant', 'signing']),
    tenant: otherTenant(),
    /** `kek` only: false = do not create a version, just move every key onto the current one. */
    new_version: z
      .boolean()
      .optional()
      .meta({ description: 'kek only: false = move every key onto the current version without creating one' }),
  })
  .meta({ id: 'RotateKeysDto' });
export type RotateKeysDto = z.infer<typeof RotateKeysDto>;

export const RetireKeysDto = z
  .strictObject({
    /** The tenant-key version to retire, with every version below it. */
    version: z
      .int()
      .min(1)
      .max(2 ** 31 - 1)
      .meta({ description: 'Retires this tenant-key version and every version below it' }),
    tenant: otherTenant(),
  })
  .meta({ id: 'RetireKeysDto' });
export type RetireKeysDto = z.infer<typeof RetireKeysDto>;

export const KeyStatusQuery = z.strictObject({ tenant: otherTenant() });
export type KeyStatusQuery = z.infer<typeof KeyStatusQuery>;

export const ShredTenantQuery = z.strictObject({
  /** Must repeat the tenant id: deleting a tenant cannot be undone. */
  confirm: matching(TENANT).meta({ description: 'Must repeat the tenant id' }),
});
export type ShredTenantQuery = z.infer<typeof ShredTenantQuery>;
