import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import type { INestApplicationContext } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditLog } from '../../libs/audit';
import { OAuthCredentialStore } from '../../libs/connections';
import { ConnectionRefresher } from '../../libs/refresh';
import { KEY_PROVIDER, KeyProvider, Keyring } from '../../libs/crypto';
import { onAuditFlush, onKeyProviderCall, onRefresh, VaultMetrics } from '../../libs/observability';
import { feedWebhookMetrics, WebhookDispatcher } from '../../libs/webhooks';

interface PgPool {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
}

/**
 * `GET /metrics` of a worker process (it serves no API): scheduled refresh outcomes by provider and
 * class, lease contention, the refresh queue's lag, webhook deliveries and the outbox's lag, Key
 * Vault calls, audit flushes, the pool.
 * Every other path is 404. Returns the server and the port it listens on.
 */
export async function serveWorkerMetrics(
  app: INestApplicationContext,
  port: number,
  host: string,
  poolMax: number,
): Promise<{ server: Server; port: number }> {
  const keyring = app.get(Keyring);
  const audit = app.get(AuditLog);
  const ds = app.get(DataSource);
  const store = app.get(OAuthCredentialStore);
  const metrics = new VaultMetrics({
    keyCache: () => ({ hits: keyring.cache.hits, misses: keyring.cache.misses }),
    audit: () => audit.stats(),
    pool: () => {
      const pool = ds.isInitialized ? (ds.driver as unknown as { master?: PgPool }).master : undefined;
      return pool ? { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: poolMax } : undefined;
    },
    refreshLag: () => store.dueLagSeconds(),
  });
  onRefresh(app.get(ConnectionRefresher), (e) => metrics.recordRefresh(e));
  onKeyProviderCall(app.get<KeyProvider>(KEY_PROVIDER), (e) => metrics.recordKeyProviderCall(e));
  onAuditFlush(audit, (e) => metrics.recordAuditFlush(e));
  feedWebhookMetrics(metrics, app.get(WebhookDispatcher));
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') return void res.writeHead(404).end();
    metrics.text().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  return { server, port: (server.address() as AddressInfo).port };
}
