import { API_KEY_PROVIDER, BUILT_IN_ENTRIES } from '../oauth';

/** Every OAuth provider id of the catalog (libs/oauth), `custom-oauth2` included. */
export const OAUTH_PROVIDERS: readonly string[] = BUILT_IN_ENTRIES.map((e) => e.id as string);

/** What `PUT /v1/admin/integrations/{name}` accepts as `provider`. */
export const PROVIDERS: readonly string[] = [...OAUTH_PROVIDERS, API_KEY_PROVIDER];
export type ProviderId = string;

export function kindOf(provider: string): 'oauth2' | 'api_key' {
  return provider === API_KEY_PROVIDER ? 'api_key' : 'oauth2';
}
