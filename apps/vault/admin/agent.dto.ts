import { z } from 'zod';
import { text } from '../http/fields';

const AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;

/** A JWK Set: `keys` and nothing else at the top (the keys themselves are checked where they are used). */
export const JwksDto = z
  .strictObject({
    keys: z.array(z.record(z.string(), z.unknown())).max(100).meta({ description: 'Public JWKs' }),
  })
  .meta({ id: 'JwksDto' });

export const PutAgentDto = z
  .strictObject({
    name: text(1, 200).meta({ example: 'My MCP server' }),
    auth_method: z
      .enum(AUTH_METHODS)
      .optional()
      .meta({
        description:
          'none: known only as the actor of tokens from an external token service; a secret method returns client_secret once. ' +
          'Omitted: a new agent gets none, an existing one keeps its method and credentials (only the name changes)',
      }),
    jwks: JwksDto.optional().meta({ description: 'Required for private_key_jwt' }),
  })
  .meta({ id: 'PutAgentDto' });
export type PutAgentDto = z.infer<typeof PutAgentDto>;
