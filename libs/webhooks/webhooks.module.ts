import { BeforeApplicationShutdown, DynamicModule, Inject, Injectable, Module, OnApplicationBootstrap } from '@nestjs/common';
import { AuditModule } from '../audit';
import { VAULT_CONFIG, VaultConfig } from '../config';
import { CONNECTION_EVENTS } from '../connections';
import { OAuthModule, OutboundPolicy } from '../oauth';
import { WebhookOutboxStore } from './webhook-outbox.store';
import { WebhookAdminService } from './webhook-admin.service';
import { WebhookDispatcher } from './webhook-dispatcher';
import { WebhookEndpointStore } from './webhook-endpoint.store';
import { WebhookOutbox } from './webhook-outbox';
import { WebhookHttpClient, WebhookSender } from './webhook-sender';

const WEBHOOKS_OPTIONS = Symbol('WEBHOOKS_OPTIONS');

/** Response bodies are not used; a cap this high only stops a receiver from streaming forever. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

@Injectable()
class WebhookDispatcherLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    @Inject(WEBHOOKS_OPTIONS) private readonly opts: { run: boolean },
    private readonly dispatcher: WebhookDispatcher,
  ) {}

  onApplicationBootstrap(): void {
    if (this.opts.run) this.dispatcher.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.dispatcher.stop();
  }
}

/**
 * Connection-event webhooks (issue 4). Global, so that `CONNECTION_EVENTS` (the outbox) reaches the
 * connection stores in libs/connections, which cannot import this context. `run`: deliver from this
 * process (the worker; the API process too on the embedded default, WEBHOOKS_IN_PROCESS), with its
 * metrics on that process's /metrics. Needs the
 * global VAULT_CONFIG, DataSource, Keyring and an AUDIT_MAC_KEY binding.
 */
@Module({})
export class WebhooksModule {
  static forRoot(opts: { run: boolean }): DynamicModule {
    return {
      module: WebhooksModule,
      global: true,
      imports: [AuditModule, OAuthModule],
      providers: [
        { provide: WEBHOOKS_OPTIONS, useValue: opts },
        {
          provide: WebhookHttpClient,
          inject: [OutboundPolicy, VAULT_CONFIG],
          useFactory: (p: OutboundPolicy, c: VaultConfig) =>
            new WebhookHttpClient(p, { timeoutMs: c.webhooks.timeoutMs, maxResponseBytes: MAX_RESPONSE_BYTES }),
        },
        WebhookOutbox,
        { provide: CONNECTION_EVENTS, useExisting: WebhookOutbox },
        WebhookEndpointStore,
        WebhookOutboxStore,
        WebhookSender,
        WebhookDispatcher,
        WebhookAdminService,
        WebhookDispatcherLifecycle,
      ],
      exports: [WebhookOutbox, CONNECTION_EVENTS, WebhookEndpointStore, WebhookDispatcher, WebhookAdminService],
    };
  }
}
