import { VaultConfig } from '../config';
import { AzureKeyProvider } from './azure-key-provider';
import { KeyProvider } from './key-provider';
import { LocalKeyProvider } from './local-key-provider';

export function createKeyProvider(config: VaultConfig): KeyProvider {
  const kp = config.keyProvider;
  return kp.kind === 'local' ? new LocalKeyProvider(kp.kekFile) : new AzureKeyProvider(kp);
}
