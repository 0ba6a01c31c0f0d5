/**
 * Provider ids the admin API accepts until the provider catalog (connect issue) lands
 * and replaces this list with validated catalog entries.
 */
export const OAUTH_PROVIDERS = [
  'google', 'microsoft', 'salesforce', 'salesforce-sandbox', 'github', 'github-app', 'slack',
  'atlassian', 'hubspot', 'notion', 'zoom', 'dropbox', 'box', 'linear', 'asana', 'zendesk', 'intercom',
  'custom-oauth2',
] as const;

export const PROVIDERS = [...OAUTH_PROVIDERS, 'api_key'] as const;
export type ProviderId = (typeof PROVIDERS)[number];

export function kindOf(provider: string): 'oauth2' | 'api_key' {
  return provider === 'api_key' ? 'api_key' : 'oauth2';
}
