import { z } from 'zod';
import { matching, NAME, text } from '../http/fields';

export const ExpectedIdentityDto = z
  .strictObject({
    email: z.email().min(3).max(320).optional(),
    subject: text(1, 256).optional(),
  })
  .meta({ id: 'ExpectedIdentityDto' });

export const CreateConnectSessionDto = z
  .strictObject({
    user: matching(NAME),
    integration: matching(NAME),
    /** Checked against the integration's `return_urls` (and the vault's own origin). */
    return_url: text(1, 2048).optional().meta({ description: "Checked against the integration's return_urls" }),
    expected_identity: ExpectedIdentityDto.optional().meta({ description: 'The provider account the user must sign in with' }),
    // The shape only: what a display name may contain is checked in libs/tenants (`displayNameProblem`), naming the field.
    user_display_name: text(1, 400).optional().meta({
      example: 'Olga Smith',
      description: 'How the app names the user (1–100 characters); the consent page shows it, escaped, beside `user`',
    }),
    ttl_seconds: z.int().min(60).max(3600).optional(),
  })
  .meta({ id: 'CreateConnectSessionDto' });
export type CreateConnectSessionDto = z.infer<typeof CreateConnectSessionDto>;
