import type { AccessToken, TokenCredential } from '@azure/identity';
import type { VaultConfig } from '../config';

type AzureCredentialConfig = Extract<VaultConfig['keyProvider'], { kind: 'azure' }>['credential'];

const STATIC_TOKEN_LIFETIME_MS = 24 * 3600 * 1000;

/**
 * A credential that always answers the same bearer token: for Key Vault emulators
 * (`AZURE_KEYVAULT_CREDENTIAL=static:<token>`), never for Azure itself. The token is
 * held in a private field so it does not show up when the object is logged.
 */
export class StaticTokenCredential implements TokenCredential {
  readonly #token: string;
  constructor(token: string) {
    if (!token) throw new Error('static credential needs a token');
    this.#token = token;
  }
  async getToken(): Promise<AccessToken> {
    return { token: this.#token, expiresOnTimestamp: Date.now() + STATIC_TOKEN_LIFETIME_MS };
  }
}

/**
 * The credential for the configured kind. `default` loads `@azure/identity` lazily
 * (it is heavy and unused by the static/emulator path).
 */
export async function createAzureCredential(config: AzureCredentialConfig): Promise<TokenCredential> {
  if (config.kind === 'static') return new StaticTokenCredential(config.token);
  const { DefaultAzureCredential } = await import('@azure/identity');
  return new DefaultAzureCredential();
}
