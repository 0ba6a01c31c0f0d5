import { LoggerService } from '@nestjs/common';
import { Logger as NestPinoLogger, PinoLogger } from 'nestjs-pino';
import { storage } from 'nestjs-pino/storage';
import type { Logger } from 'pino';

/**
 * Nest's own lines (`new Logger(...)`) into this app's pino logger, bound to the request's
 * logger (and so its `reqId`) while one is handled. Outside requests nestjs-pino would use the
 * first logger the process ever made, which is another app's when a process runs several (tests).
 */
class AppPinoLogger extends PinoLogger {
  constructor(private readonly root: Logger) {
    super({ pinoHttp: { logger: root } });
  }

  override get logger(): Logger {
    return storage.getStore()?.logger ?? this.root;
  }
}

/** Nest's start-up inventory (one line per module, controller and route, ~120 of them): debug, so the banner stays readable. */
const INVENTORY_CONTEXTS = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer']);

class VaultNestLogger extends NestPinoLogger {
  override log(message: unknown, ...optionalParams: unknown[]): void {
    const context = optionalParams[optionalParams.length - 1];
    if (typeof context === 'string' && INVENTORY_CONTEXTS.has(context)) return this.debug(message, ...optionalParams);
    return super.log(message, ...optionalParams);
  }
}

/** Nest's logger for a process (the API, the worker) writing into its pino logger from `createVaultLogger`. */
export function nestLogger(root: Logger): LoggerService {
  return new VaultNestLogger(new AppPinoLogger(root), {});
}
