import { DynamicModule, Global, Module, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditModule } from '../../libs/audit';
import { AdminGuard, AUTH_REJECTION_SINK, AuthModule, AuthRejection } from '../../libs/auth';
import { ConfigModule, loadConfig } from '../../libs/config';
import { CONNECTION_EVENTS, NoConnectionEvents } from '../../libs/connections';
import { CryptoModule } from '../../libs/crypto';
import { createDataSource, DbModule } from '../../libs/db';
import { AuditKeyBinding } from '../../libs/keys';
import { CredentialReleaseService, NoConnectLinksModule, ReleaseModule } from '../../libs/release';
import { createTestDatabase, TestDatabase } from '../support/database';

/**
 * Issue 16 point 5: the ports a process must bind (the auth rejection sink, the connect links, the
 * connection-event outbox) are required injections, so a composition that forgets one fails when
 * Nest compiles it, naming the missing token, instead of silently dropping audit records or events.
 * The real compositions (API, worker, CLI) boot in the other integration tests.
 */
describe('required bindings', () => {
  let db: TestDatabase;
  const config = () =>
    loadConfig({
      NODE_ENV: 'test',
      VAULT_DATA_DIR: mkdtempSync(join(tmpdir(), 'vault-wiring-')),
      VAULT_PUBLIC_URL: 'https://vault.test.example',
      VAULT_DEV_ISSUER: 'false',
    });

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  async function boot(imports: Array<Type | DynamicModule>) {
    @Module({ imports })
    class App {}
    return NestFactory.createApplicationContext(App, { logger: false, abortOnError: false });
  }

  function global(token: symbol, value: unknown): Type {
    @Global()
    @Module({ providers: [{ provide: token, useValue: value }], exports: [token] })
    class Binding {}
    return Binding;
  }

  describe('the auth guards', () => {
    it('without an AUTH_REJECTION_SINK the module does not compile', async () => {
      await expect(boot([ConfigModule.forRoot(config()), AuthModule])).rejects.toThrow(/AUTH_REJECTION_SINK/);
    });

    it('with one bound, the guards report to it', async () => {
      const rejected: AuthRejection[] = [];
      const app = await boot([
        ConfigModule.forRoot(config()),
        global(AUTH_REJECTION_SINK, { rejected: async (e: AuthRejection) => void rejected.push(e) }),
        AuthModule,
      ]);
      try {
        const req = { method: 'GET', headers: {}, routeOptions: { url: '/v1/admin/x' } };
        await expect(app.get(AdminGuard).authenticate(req as never)).rejects.toMatchObject({ code: 'invalid_token' });
        expect(rejected).toEqual([expect.objectContaining({ code: 'invalid_token' })]);
      } finally {
        await app.close();
      }
    });
  });

  describe('the release context (with the connections it reads)', () => {
    async function credentials(bindings: Type[]) {
      const ds = createDataSource({ url: db.url, schema: 'vault', poolSize: 2 });
      await ds.initialize();
      try {
        return await boot([
          ConfigModule.forRoot(config()),
          DbModule.forDataSource(ds),
          CryptoModule,
          AuditModule,
          AuditKeyBinding,
          ...bindings,
          ReleaseModule,
        ]);
      } catch (err) {
        await ds.destroy();
        throw err;
      }
    }

    it('without CONNECT_LINKS it does not compile', async () => {
      await expect(credentials([global(CONNECTION_EVENTS, new NoConnectionEvents())])).rejects.toThrow(/CONNECT_LINKS/);
    });

    it('without CONNECTION_EVENTS it does not compile', async () => {
      await expect(credentials([NoConnectLinksModule])).rejects.toThrow(/CONNECTION_EVENTS/);
    });

    it('with both bound (here the explicit no-ops) it does', async () => {
      const app = await credentials([NoConnectLinksModule, global(CONNECTION_EVENTS, new NoConnectionEvents())]);
      try {
        expect(app.get(CredentialReleaseService)).toBeInstanceOf(CredentialReleaseService);
      } finally {
        await app.close();
      }
    });
  });
});
