import { z } from 'zod';
import { text } from '../http/fields';

/** The shapes only: what a display name or logo URL may be is checked in libs/tenants (tenant-profile-rules.ts), naming the field. */
export const PutTenantDto = z
  .strictObject({
    display_name: text(1, 400).meta({ example: 'Acme Travel', description: 'Shown on the consent and account pages (1–100 characters)' }),
    logo_url: text(1, 4096).nullable().optional().meta({
      example: 'https://cdn.acme.example/logo.png',
      description: 'https only, no credentials, a host name (not an IP address), at most 2048 characters; null or absent for none',
    }),
  })
  .meta({ id: 'PutTenantDto' });
export type PutTenantDto = z.infer<typeof PutTenantDto>;
