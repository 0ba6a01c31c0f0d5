import { z } from 'zod';
import { text } from '../http/fields';

/** `max` strings of 1..`length` characters. */
const strings = (max: number, length: number) => z.array(text(1, length)).max(max);

export const PolicyUsersDto = z
  .strictObject({
    roles_any: strings(100, 256).optional(),
    subjects: strings(1000, 256).optional(),
  })
  .meta({ id: 'PolicyUsersDto' });

export const PutPolicyDto = z
  .strictObject({
    agents: strings(1000, 128).min(1).meta({ description: 'Agent client ids, or "*"' }),
    integrations: strings(1000, 128).min(1).meta({ description: 'Integration names, or "*"' }),
    scopes: strings(100, 256).optional().meta({ description: 'Provider-scope ceiling' }),
    /** An object (an array of them is refused: `[{ "subjects": [...] }]` once applied to every user). */
    users: PolicyUsersDto.optional().meta({ description: 'User conditions (an object)' }),
    effect: z.enum(['allow', 'deny']),
    max_ttl_seconds: z.int().min(1).max(86400).optional(),
    require_dpop: z.boolean().optional().meta({ description: 'Tokens issued under this allow must be DPoP-bound (RFC 9449)' }),
    require_approval: z
      .boolean()
      .optional()
      .meta({ description: "Each use needs the user's approval first (CIBA, POST /oauth2/bc-authorize); allow policies only" }),
    approval_ttl_seconds: z.int().min(60).max(86400).optional().meta({ description: 'How long an approval lasts (default 600)' }),
    approvers: z.enum(['user']).optional().meta({ description: 'Who approves: the user (the only choice today)' }),
  })
  .meta({ id: 'PutPolicyDto' });
export type PutPolicyDto = z.infer<typeof PutPolicyDto>;
