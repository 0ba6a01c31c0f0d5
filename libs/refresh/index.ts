export { RefreshModule } from './refresh.module';
export { ConnectionRefresher, isUsable } from './connection-refresher';
export { RefreshScheduler } from './refresh-scheduler';
export { nextRefreshAt, backoffDelayMs, isDue } from './refresh-schedule';
export type { RefreshWindow } from './refresh-schedule';
export { RefreshWorkerModule } from './refresh-worker.module';
