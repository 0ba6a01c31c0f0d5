import { z } from 'zod';
import { text } from '../http/fields';

export const PutUserLoginDto = z
  .strictObject({
    issuer: text(1, 2048).meta({
      example: 'https://login.example.com',
      description: 'OpenID issuer; https (plain http only for a loopback provider outside production)',
    }),
    client_id: text(1, 255),
    client_secret: text(1, 1024).meta({ writeOnly: true, description: 'Sealed; never returned' }),
    scopes: z
      .array(z.string())
      .min(1)
      .max(20)
      .optional()
      .meta({ example: ['openid', 'email', 'profile'] }),
    subject_claim: text(1, 64)
      .optional()
      .meta({ example: 'sub', description: 'The claim that is the user (must equal the `sub` of their exchanged tokens; Entra: oid)' }),
    roles_claim: text(1, 64).nullable().optional().meta({ example: 'roles' }),
  })
  .meta({ id: 'PutUserLoginDto' });
export type PutUserLoginDto = z.infer<typeof PutUserLoginDto>;
