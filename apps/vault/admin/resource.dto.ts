import { z } from 'zod';
import { text } from '../http/fields';

export const ResourceScopeDto = z
  .strictObject({
    description: z.string().max(500).optional(),
    roles_any: z.array(text(1, 256)).max(50).meta({ description: 'Roles or groups (any of them) a user needs; "*": any signed-in user' }),
    require_approval: z.boolean().optional(),
  })
  .meta({ id: 'ResourceScopeDto' });

/**
 * `PUT /v1/admin/resources/{name}`. What the shape cannot say (scope names, an empty role list, the
 * identifier's rules) is checked in the lib (`toResource`), which names the field that is wrong.
 */
export const PutResourceDto = z
  .strictObject({
    identifier: text(1, 2048).meta({
      description: "RFC 8707 resource identifier: the tokens' aud",
      example: 'https://crm.internal.example.com',
    }),
    display_name: text(1, 200),
    scopes: z.record(z.string().max(128), ResourceScopeDto),
    token_ttl_seconds: z.int().min(1).max(86400).optional(),
    agents: z.array(text(1, 128)).max(100).optional().meta({ description: 'Agents allowed to exchange tokens for it, or "*"' }),
  })
  .meta({ id: 'PutResourceDto' });
export type PutResourceDto = z.infer<typeof PutResourceDto>;
