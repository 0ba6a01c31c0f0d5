import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';

/**
 * Provides the already-initialised DataSource. The app's bootstrap creates it (after
 * starting embedded Postgres if needed and running migrations) and hands it in.
 */
@Global()
@Module({})
export class DbModule implements OnApplicationShutdown {
  constructor(@Inject(DataSource) private readonly ds: DataSource) {}

  static forDataSource(ds: DataSource) {
    return { module: DbModule, providers: [{ provide: DataSource, useValue: ds }], exports: [DataSource] };
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.ds.isInitialized) await this.ds.destroy();
  }
}
