import { DynamicModule, Global, Module } from '@nestjs/common';
import { VaultConfig } from './config.schema';

/** Injection token for the validated configuration. */
export const VAULT_CONFIG = Symbol('VAULT_CONFIG');

@Global()
@Module({})
export class ConfigModule {
  /** The config is built once (by `loadConfig` in main) and handed in, so nothing else reads `process.env`. */
  static forRoot(config: VaultConfig): DynamicModule {
    return { module: ConfigModule, providers: [{ provide: VAULT_CONFIG, useValue: config }], exports: [VAULT_CONFIG] };
  }
}
