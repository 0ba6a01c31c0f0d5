import { Injectable } from '@nestjs/common';
import { OutboundError, ProviderHttpClient } from '../oauth';
import { ClaimedEvent } from './webhook-outbox.store';
import { signDelivery } from './signing';
import { DeliveryTarget } from './webhook-endpoint.store';

export type SendResult = { ok: true } | { ok: false; errorClass: string; retryAfter?: string | string[] };

/** The HTTP client of webhook deliveries: a ProviderHttpClient (SSRF policy, no redirects) with the webhook timeout. */
export class WebhookHttpClient extends ProviderHttpClient {}

/**
 * One signed POST (Standard Webhooks headers). The body is the event as stored, plus its id, type
 * and creation time; the signature covers the exact bytes sent. The response body is never read
 * into a result or a log: only the status (and Retry-After) matters.
 */
@Injectable()
export class WebhookSender {
  constructor(private readonly http: WebhookHttpClient) {}

  async send(t: DeliveryTarget, e: ClaimedEvent): Promise<SendResult> {
    const body = JSON.stringify({ id: e.id, type: e.type, timestamp: e.createdAt.toISOString(), tenant: e.tenant, data: e.payload });
    const timestamp = Math.floor(Date.now() / 1000);
    try {
      const res = await this.http.request({
        method: 'POST',
        url: t.url,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'credential-vault-webhooks',
          'webhook-id': e.id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signDelivery(t.key, e.id, timestamp, body),
        },
        body,
      });
      if (res.status >= 200 && res.status < 300) return { ok: true };
      return { ok: false, errorClass: `http_${res.status}`, retryAfter: res.headers['retry-after'] };
    } catch (err) {
      return { ok: false, errorClass: err instanceof OutboundError ? err.kind : 'network' };
    }
  }
}
