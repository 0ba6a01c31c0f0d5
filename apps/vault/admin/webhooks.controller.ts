import { Body, Controller, Delete, Get, HttpCode, Post, Put, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AdminGuard, Principal, VerifiedToken } from '../../../libs/auth';
import { KEY_OPERATOR_SCOPE } from '../../../libs/keys';
import { WebhookActor, WebhookAdminService, WebhookEndpoint } from '../../../libs/webhooks';
import { PutWebhookDto } from './webhooks.dto';

function view(e: WebhookEndpoint) {
  return { url: e.url, events: e.events, enabled: e.enabled, created_at: e.createdAt, updated_at: e.updatedAt };
}

function actor(p: VerifiedToken): WebhookActor {
  return { tenant: p.tenant, subject: p.subject, operator: p.scopes.includes(KEY_OPERATOR_SCOPE) };
}

/**
 * The tenant's webhook endpoint for connection events (an addition to CONTRACT.md). Deliveries are
 * signed per Standard Webhooks with the secret a PUT returns, once.
 */
@Controller('v1/admin/webhooks')
@UseGuards(AdminGuard)
export class WebhooksController {
  constructor(private readonly webhooks: WebhookAdminService) {}

  /** Creates or replaces the endpoint; the response carries the new signing secret, shown this once. */
  @Put()
  async put(
    @Principal() p: VerifiedToken,
    @Body({ schema: PutWebhookDto }) dto: PutWebhookDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    const r = await this.webhooks.put(actor(p), { url: dto.url, events: dto.events });
    res.status(r.created ? 201 : 200);
    res.header('Cache-Control', 'no-store');
    return { ...view(r.endpoint), secret: r.secret.reveal() };
  }

  @Get()
  async get(@Principal() p: VerifiedToken) {
    return view(await this.webhooks.get(actor(p)));
  }

  @Delete()
  @HttpCode(204)
  async remove(@Principal() p: VerifiedToken) {
    await this.webhooks.remove(actor(p));
  }

  /** 202: a `webhook.test` event is queued; `id` is the `webhook-id` the endpoint will receive. */
  @Post('test')
  @HttpCode(202)
  test(@Principal() p: VerifiedToken) {
    return this.webhooks.test(actor(p));
  }
}
