import { Global, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AUDIT_MAC_KEY, AuditLog, AuditModule, AuditReceipt, verifyAuditChain } from '../../libs/audit';
import { ConfigModule, loadConfig } from '../../libs/config';
import { createDataSource, DbModule } from '../../libs/db';
import { createTestDatabase, TestDatabase } from '../support/database';
import { event, macKeySource, randomMacKey, separateClient } from './support';

describe('AuditModule', () => {
  let db: TestDatabase;
  const key = randomMacKey();

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('wires AuditLog from DataSource, VAULT_CONFIG and AUDIT_MAC_KEY, and drains the queue before the pool closes', async () => {
    @Global()
    @Module({ providers: [{ provide: AUDIT_MAC_KEY, useValue: macKeySource(key) }], exports: [AUDIT_MAC_KEY] })
    class KeyringStub {}

    // The app's own DataSource, closed by DbModule on shutdown.
    const ds = createDataSource({ url: db.url, schema: 'vault', poolSize: 2 });
    await ds.initialize();
    const config = loadConfig({ NODE_ENV: 'test', VAULT_AUDIT_BATCH_MAX: '7', VAULT_AUDIT_TIMEOUT_MS: '5000' });

    @Module({ imports: [ConfigModule.forRoot(config), DbModule.forDataSource(ds), KeyringStub, AuditModule] })
    class App {}

    const app = await NestFactory.createApplicationContext(App, { logger: false });
    const audit = app.get(AuditLog);
    // Not awaited: shutdown must still commit every one of them.
    const pending: Promise<AuditReceipt>[] = Array.from({ length: 40 }, (_, i) => audit.record(event('t', { details: { i } })));
    await app.close();

    expect(ds.isInitialized).toBe(false);
    const receipts = await Promise.all(pending);
    expect(receipts).toHaveLength(40);
    expect(audit.stats()).toMatchObject({ committedEvents: 40, queued: 0 });
    expect(audit.stats().flushes).toBeGreaterThanOrEqual(6); // batchMax 7 from the config

    const other = await separateClient(db.url);
    const { rows } = await other.query('SELECT count(*)::int AS n FROM audit_events');
    await other.end();
    expect(rows[0].n).toBe(40);
    expect(await verifyAuditChain(db.ds, key)).toMatchObject({ ok: true, checked: 40 });
  });
});
