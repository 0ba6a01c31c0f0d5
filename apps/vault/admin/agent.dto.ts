import { z } from 'zod';
import { text } from '../http/fields';

const AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;

/** A JWK Set: `keys` and nothing else at the top (the keys themselves are checked where they are used). */
export const JwksDto = z
  .strictObject({
    keys: z.array(z.record(z.string(), z.unknown())).max(100).meta({ description: 'Public JWKs' }),
  })
  .meta({ id: 'JwksDto' });

/** An Entra-style federated identity credential (the values are checked further by the admin use case). */
export const FederatedCredentialDto = z
  .strictObject({
    issuer: text(1, 2048).meta({
      example: 'https://login.microsoftonline.com/<tenant-id>/v2.0',
      description: 'A TRUSTED_ISSUERS issuer (exact iss)',
    }),
    subject: text(1, 255).meta({ example: '<object id of the agent identity>', description: 'The exact sub of the assertions' }),
    audiences: z.array(text(1, 2048)).max(10).optional().meta({ description: 'aud must hold one of these; omitted: the token endpoint' }),
    claims: z
      .record(z.string(), z.unknown())
      .optional()
      .meta({ description: 'Claims the assertion must carry with exactly these values (strings, numbers, booleans)' }),
  })
  .meta({ id: 'FederatedCredentialDto' });

export const PutAgentDto = z
  .strictObject({
    name: text(1, 200).meta({ example: 'My MCP server' }),
    auth_method: z
      .enum(AUTH_METHODS)
      .optional()
      .meta({
        description:
          'none: known only as the actor of tokens from an external token service, or by its federated credentials; ' +
          'a secret method returns client_secret once. ' +
          'Omitted: a new agent gets none, an existing one keeps its method and credentials (only the name changes)',
      }),
    jwks: JwksDto.optional().meta({ description: 'Required for private_key_jwt' }),
    federated_credentials: z
      .array(FederatedCredentialDto)
      .max(20)
      .optional()
      .meta({ description: 'Replaces the list when given ([] clears it); omitted: kept. auth_method must be none' }),
    accepted_audiences: z.array(text(1, 2048)).max(20).optional().meta({
      description: "Subject-token audiences accepted at this agent's exchanges besides VAULT_AUDIENCE (e.g. the MCP server's own)",
    }),
    disabled: z
      .boolean()
      .optional()
      .meta({ description: 'A disabled agent cannot authenticate and its tokens release nothing. Omitted: kept' }),
    dpop_bound: z
      .boolean()
      .optional()
      .meta({
        description:
          "true: the agent's tokens are DPoP-bound (RFC 9449): the token endpoint requires a DPoP proof and the release route a proof " +
          'by the same key. Omitted: a new agent is not bound, an existing one keeps its setting',
      }),
  })
  .meta({ id: 'PutAgentDto' });
export type PutAgentDto = z.infer<typeof PutAgentDto>;
