import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { PgNotifications } from './pg-notifications';

/**
 * Hands the already-initialised DataSource to `@nestjs/typeorm`. Bootstrap creates it
 * first (embedded Postgres if needed, then migrations under the advisory lock), so Nest
 * never opens a second pool; `@nestjs/typeorm` closes it on application shutdown.
 * Also the process's one LISTEN connection (`PgNotifications`, opened on first subscribe and
 * closed before that pool: Nest runs every `beforeApplicationShutdown` before any `onApplicationShutdown`).
 */
@Global()
@Module({})
export class DbModule {
  static forDataSource(ds: DataSource) {
    return {
      module: DbModule,
      imports: [
        TypeOrmModule.forRootAsync({
          useFactory: () => ds.options,
          dataSourceFactory: async () => ds,
        }),
      ],
      providers: [{ provide: PgNotifications, useFactory: () => new PgNotifications(ds) }],
      exports: [TypeOrmModule, PgNotifications],
    };
  }
}
