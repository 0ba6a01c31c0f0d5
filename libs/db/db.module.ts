import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

/**
 * Hands the already-initialised DataSource to `@nestjs/typeorm`. Bootstrap creates it
 * first (embedded Postgres if needed, then migrations under the advisory lock), so Nest
 * never opens a second pool; `@nestjs/typeorm` closes it on application shutdown.
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
      exports: [TypeOrmModule],
    };
  }
}
