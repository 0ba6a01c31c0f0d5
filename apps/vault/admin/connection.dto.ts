import { z } from 'zod';
import { matching, NAME, text } from '../http/fields';

export const PutApiKeyDto = z
  .strictObject({
    api_key: text(1, 8192).meta({ writeOnly: true, description: 'Write-only: sealed, never returned' }),
  })
  .meta({ id: 'PutApiKeyDto' });
export type PutApiKeyDto = z.infer<typeof PutApiKeyDto>;

/** Query parameters arrive as strings (an array when repeated, which is refused). No `id`: Swagger lists each as a parameter. */
export const ListConnectionsQuery = z.strictObject({
  user: matching(NAME).optional(),
  integration: matching(NAME).optional(),
  status: z.enum(['active', 'needs_reauth', 'revoked', 'refresh_indeterminate']).optional(),
  limit: matching(/^(?:[1-9][0-9]{0,2}|1000)$/, 'must be an integer from 1 to 1000')
    .optional()
    // Documented as what it means (the pattern only applies to the string it arrives as).
    .meta({ type: 'integer', minimum: 1, maximum: 1000, default: 500 }),
});
export type ListConnectionsQuery = z.infer<typeof ListConnectionsQuery>;
