export { KeyVaultEmulator } from './server';
export type { KeyVaultEmulatorOptions, RequestLogEntry, EmulatorKey } from './server';
export type { Fault, Operation } from './faults';
export type { CreateKeyOptions, KeyType } from './keys';
