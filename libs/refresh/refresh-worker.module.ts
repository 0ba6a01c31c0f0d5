import { BeforeApplicationShutdown, DynamicModule, Inject, Injectable, Module, OnApplicationBootstrap } from '@nestjs/common';
import { RefreshModule } from './refresh.module';
import { RefreshScheduler } from './refresh-scheduler';

const REFRESH_WORKER_OPTIONS = Symbol('REFRESH_WORKER_OPTIONS');

/** Runs the refresh loop for the life of the process; on shutdown, lets the refreshes in flight commit. */
@Injectable()
class RefreshWorkerLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    @Inject(REFRESH_WORKER_OPTIONS) private readonly opts: { run: boolean },
    private readonly scheduler: RefreshScheduler,
  ) {}

  onApplicationBootstrap(): void {
    if (this.opts.run) this.scheduler.start();
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.scheduler.stop();
  }
}

/** The background refresher: the worker runs it; the API process too on the embedded default (REFRESH_IN_PROCESS). */
@Module({})
export class RefreshWorkerModule {
  static forRoot(opts: { run: boolean }): DynamicModule {
    return {
      module: RefreshWorkerModule,
      imports: [RefreshModule],
      providers: [{ provide: REFRESH_WORKER_OPTIONS, useValue: opts }, RefreshScheduler, RefreshWorkerLifecycle],
      exports: [RefreshScheduler],
    };
  }
}
