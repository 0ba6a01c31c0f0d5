/** What the example server needs, from its environment, checked once at start. */
export interface ExampleConfig {
  vaultUrl: string;
  /** Set when the vault's VAULT_PUBLIC_URL differs from vaultUrl (private_key_jwt audiences only). */
  vaultPublicUrl?: string;
  clientId: string;
  clientSecret: string;
  authMethod: 'client_secret_basic' | 'client_secret_post';
  /** The user's own access token for the vault (from your identity provider). */
  userToken: string;
  integration: string;
  /** The provider API the tool calls with the user's access token. */
  profileUrl: string;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ExampleConfig {
  const missing: string[] = [];
  const need = (name: string): string => {
    const value = env[name];
    if (!value) missing.push(name);
    return value ?? '';
  };
  const config: ExampleConfig = {
    vaultUrl: need('VAULT_URL'),
    vaultPublicUrl: env.VAULT_PUBLIC_URL || undefined,
    clientId: need('VAULT_CLIENT_ID'),
    clientSecret: need('VAULT_CLIENT_SECRET'),
    authMethod: env.VAULT_AUTH_METHOD === 'client_secret_post' ? 'client_secret_post' : 'client_secret_basic',
    userToken: need('VAULT_USER_TOKEN'),
    integration: env.VAULT_INTEGRATION || 'calendar',
    profileUrl: need('PROFILE_URL'),
  };
  // Names only: the values are secrets.
  if (missing.length) throw new Error(`missing environment variables: ${missing.join(', ')}`);
  return config;
}
