import { z } from 'zod';
import { matching, SCOPE } from '../http/fields';

export const ReleaseDto = z
  .strictObject({
    /** Must be a subset of the scopes granted to the connection (downscoping). */
    scopes: z
      .array(matching(SCOPE))
      .max(100)
      .optional()
      .meta({ description: 'A subset of the granted scopes (downscoping); default: all granted', example: ['calendar.readonly'] }),
  })
  .meta({ id: 'ReleaseDto' });
export type ReleaseDto = z.infer<typeof ReleaseDto>;
