import { z } from 'zod';
import { PROVIDERS } from '../../../libs/connections';
import { httpUrl, matching, SCOPE, text } from '../http/fields';

/** custom-oauth2 endpoints. Plain http only for hosts in OUTBOUND_ALLOW_HOSTS (checked by the service). */
const endpoint = () => httpUrl({ protocols: ['https', 'http'], requireTld: false });

export const ApiKeyDefinitionDto = z
  .strictObject({
    header_name: text(1, 128).optional().meta({ description: 'Header the key is sent in', example: 'Authorization' }),
    prefix: text(0, 64).optional().meta({ example: 'Bearer ' }),
    validation_url: httpUrl({ protocols: ['https'], requireTld: true })
      .optional()
      .meta({ description: 'https only' }),
  })
  .meta({ id: 'ApiKeyDefinitionDto' });

export const PutIntegrationDto = z
  .strictObject({
    provider: z.enum(PROVIDERS as [string, ...string[]]).meta({ description: 'A catalog provider, custom-oauth2, or api_key' }),
    level: z.enum(['user', 'tenant']).optional().meta({ default: 'user' }),
    display_name: text(1, 200).optional(),
    client_id: text(1, 512).optional(),
    /** Write-only: sealed by the keyring, never returned. */
    client_secret: text(1, 4096).optional().meta({ writeOnly: true, description: 'Write-only: sealed, never returned' }),
    scopes: z.array(matching(SCOPE)).max(100).optional(),
    authorize_url: endpoint().optional().meta({ description: 'custom-oauth2 only' }),
    token_url: endpoint().optional().meta({ description: 'custom-oauth2 only' }),
    revocation_url: endpoint().optional().meta({ description: 'custom-oauth2 only' }),
    /** Values of the catalog entry's parameters (Microsoft `tenant`, Zendesk `subdomain`, …); checked by the catalog. */
    params: z
      .record(z.string(), z.string())
      .optional()
      .meta({ description: 'Parameters of the catalog entry (e.g. Microsoft tenant, Salesforce login_host)' }),
    /** custom-oauth2 only: the entry's quirks (libs/oauth/catalog/custom.ts); checked by the catalog. */
    provider_options: z.record(z.string(), z.unknown()).optional().meta({ description: "custom-oauth2 only: the entry's quirks" }),
    /** Where connect sessions may send the user back: URL prefixes, scheme/host/port compared exactly. */
    return_urls: z
      .array(endpoint())
      .max(20)
      .optional()
      .meta({ description: 'Where connect sessions may send the user back (URL prefixes)' }),
    api_key: ApiKeyDefinitionDto.optional(),
  })
  .meta({ id: 'PutIntegrationDto' });
export type PutIntegrationDto = z.infer<typeof PutIntegrationDto>;
