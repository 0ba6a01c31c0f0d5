import { z } from 'zod';
import { text } from '../http/fields';

export const PutWebhookDto = z
  .strictObject({
    url: text(1, 2048).meta({
      example: 'https://app.example.com/hooks/vault',
      description:
        'https (plain http only for OUTBOUND_ALLOW_HOSTS); private, loopback and link-local addresses are refused unless allowlisted',
    }),
    events: z
      .array(text(1, 64))
      .min(1)
      .max(10)
      .meta({
        example: ['connection.needs_reauth', 'connection.refresh_failed'],
        description:
          '"*" or any of connection.created, connection.refresh_failed, connection.needs_reauth, connection.recovered, connection.deleted',
      }),
  })
  .meta({ id: 'PutWebhookDto' });
export type PutWebhookDto = z.infer<typeof PutWebhookDto>;
