import type { ProviderEntryInput } from '../entry.schema';

/** HubSpot: 30-minute access tokens; the refresh token does not rotate. */
export const hubspot: ProviderEntryInput = {
  id: 'hubspot',
  displayName: 'HubSpot',
  docs: 'https://developers.hubspot.com/docs/api/oauth-quickstart-guide',
  authorizeUrl: 'https://app.hubspot.com/oauth/authorize',
  tokenUrl: 'https://api.hubapi.com/oauth/v1/token',
  scopes: {
    default: ['oauth', 'crm.objects.contacts.read'],
    descriptions: {
      'crm.objects.contacts.read': 'Read your CRM contacts',
      'crm.objects.contacts.write': 'Create and edit CRM contacts',
      'crm.objects.deals.read': 'Read your deals',
    },
  },
  pkce: false,
  tokenAuthMethod: 'client_secret_post',
  refresh: { supported: true, rotation: 'never' },
  downscope: {
    onRefresh: false,
    source:
      'developers.hubspot.com/docs/api/oauth-quickstart-guide (Refreshing OAuth ' +
      'tokens): grant_type, client_id, client_secret, redirect_uri, refresh_token; no scope parameter',
  },
  expiry: { whenMissing: { assumeSeconds: 1800 } },
};

/** Zoom: Basic auth at the token endpoint; every refresh returns a new refresh token and kills the old one. */
export const zoom: ProviderEntryInput = {
  id: 'zoom',
  displayName: 'Zoom',
  docs: 'https://developers.zoom.us/docs/integrations/oauth/',
  authorizeUrl: 'https://zoom.us/oauth/authorize',
  tokenUrl: 'https://zoom.us/oauth/token',
  scopes: {
    descriptions: {
      'meeting:read': 'See your meetings',
      'meeting:write': 'Create and edit your meetings',
      'user:read': 'See your profile',
    },
  },
  tokenAuthMethod: 'client_secret_basic',
  refresh: { supported: true, rotation: 'always' },
  downscope: {
    onRefresh: false,
    source:
      'developers.zoom.us/docs/integrations/oauth/ (Refreshing an access token): grant_type and refresh_token only; no scope parameter',
  },
  expiry: { whenMissing: { assumeSeconds: 3600 } },
  identity: { source: 'userinfo', url: 'https://api.zoom.us/v2/users/me', subject: 'id', email: 'email' },
  revocation: { url: 'https://zoom.us/oauth/revoke', token: 'access_token', hint: false, clientAuth: 'client_secret_basic' },
};

/** Dropbox: a refresh token only with token_access_type=offline; revocation takes the token as bearer. */
export const dropbox: ProviderEntryInput = {
  id: 'dropbox',
  displayName: 'Dropbox',
  docs: 'https://developers.dropbox.com/oauth-guide',
  authorizeUrl: 'https://www.dropbox.com/oauth2/authorize',
  tokenUrl: 'https://api.dropboxapi.com/oauth2/token',
  scopes: {
    descriptions: {
      'files.metadata.read': 'See the names and details of your files',
      'files.content.read': 'Read your files',
      'files.content.write': 'Add and change your files',
      'account_info.read': 'See your account details',
    },
  },
  authorizeParams: { token_access_type: 'offline' },
  tokenAuthMethod: 'client_secret_post',
  metadata: { account_id: 'account_id', uid: 'uid', team_id: 'team_id' },
  refresh: { supported: true, rotation: 'never' },
  downscope: {
    onRefresh: true,
    source:
      'www.dropbox.com/developers/documentation/http/documentation#oauth2-token: scope ' +
      'on a refresh_token grant requests a subset of the granted scopes for the short-lived token; refresh ' +
      'tokens do not rotate',
  },
  expiry: { whenMissing: { assumeSeconds: 14400 } },
  identity: { source: 'response', subject: 'account_id' },
  revocation: { url: 'https://api.dropboxapi.com/2/auth/token/revoke', token: 'access_token', tokenIn: 'bearer', hint: false },
};

/** Box: single-use refresh tokens (60 days); RFC 7009 revocation with client credentials in the body. */
export const box: ProviderEntryInput = {
  id: 'box',
  displayName: 'Box',
  docs: 'https://developer.box.com/guides/authentication/oauth2/',
  authorizeUrl: 'https://account.box.com/api/oauth2/authorize',
  tokenUrl: 'https://api.box.com/oauth2/token',
  scopes: {
    descriptions: { root_readonly: 'Read all your files and folders', root_readwrite: 'Read and write all your files and folders' },
  },
  pkce: false,
  tokenAuthMethod: 'client_secret_post',
  refresh: { supported: true, rotation: 'always' },
  downscope: {
    onRefresh: false,
    source:
      'developer.box.com/guides/authentication/tokens/refresh/: grant_type, ' +
      'client_id, client_secret, refresh_token; no scope parameter; refresh tokens rotate',
  },
  expiry: { whenMissing: { assumeSeconds: 3600 } },
  identity: { source: 'userinfo', url: 'https://api.box.com/2.0/users/me', subject: 'id', email: 'login' },
  revocation: { url: 'https://api.box.com/oauth2/revoke', token: 'refresh_token', hint: false, clientAuth: 'client_secret_post' },
};

/** Asana: the token response carries the user (`data`). */
export const asana: ProviderEntryInput = {
  id: 'asana',
  displayName: 'Asana',
  docs: 'https://developers.asana.com/docs/oauth',
  authorizeUrl: 'https://app.asana.com/-/oauth_authorize',
  tokenUrl: 'https://app.asana.com/-/oauth_token',
  scopes: {
    default: ['default'],
    descriptions: { default: 'Read and write your tasks, projects and workspaces', 'tasks:read': 'Read your tasks' },
  },
  tokenAuthMethod: 'client_secret_post',
  refresh: { supported: true, rotation: 'never' },
  downscope: {
    onRefresh: false,
    source: 'developers.asana.com/docs/oauth (Token exchange endpoint, refresh_token grant): no scope parameter documented',
  },
  expiry: { whenMissing: { assumeSeconds: 3600 } },
  identity: { source: 'response', subject: 'data.gid', email: 'data.email' },
  revocation: { url: 'https://app.asana.com/-/oauth_revoke', token: 'refresh_token', hint: false, clientAuth: 'client_secret_post' },
};

/** Zendesk: subdomain-templated URLs; revocation deletes the current token with the token as bearer. */
export const zendesk: ProviderEntryInput = {
  id: 'zendesk',
  displayName: 'Zendesk',
  docs: 'https://developer.zendesk.com/documentation/ticketing/working-with-oauth/creating-and-using-oauth-tokens-with-the-api/',
  params: { subdomain: { pattern: '^[a-z0-9][a-z0-9-]{0,62}$', description: 'Your Zendesk subdomain (the part before .zendesk.com)' } },
  authorizeUrl: 'https://{subdomain}.zendesk.com/oauth/authorizations/new',
  tokenUrl: 'https://{subdomain}.zendesk.com/oauth/tokens',
  scopes: {
    default: ['read'],
    descriptions: {
      read: 'Read your tickets, users and organizations',
      write: 'Create and update tickets',
      'tickets:read': 'Read tickets',
    },
  },
  tokenAuthMethod: 'client_secret_post',
  refresh: { supported: true, rotation: 'optional' },
  downscope: {
    onRefresh: false,
    source:
      'developer.zendesk.com/api-reference/ticketing/oauth/grant_type_tokens/ ' +
      '(refresh_token grant): no scope parameter documented; the refresh token rotates',
  },
  expiry: { whenMissing: 'never' },
  revocation: {
    url: 'https://{subdomain}.zendesk.com/api/v2/oauth/tokens/current.json',
    method: 'DELETE',
    token: 'access_token',
    tokenIn: 'bearer',
    hint: false,
  },
};

/** Intercom: permissions are set on the app (no scopes); tokens do not expire and cannot be refreshed. */
export const intercom: ProviderEntryInput = {
  id: 'intercom',
  displayName: 'Intercom',
  docs: 'https://developers.intercom.com/docs/build-an-integration/learn-more/authentication/setting-up-oauth',
  authorizeUrl: 'https://app.intercom.com/oauth',
  tokenUrl: 'https://api.intercom.io/auth/eagle/token',
  scopes: {},
  pkce: false,
  tokenAuthMethod: 'client_secret_post',
  refresh: { supported: false, rotation: 'never' },
  downscope: { onRefresh: false, source: 'developers.intercom.com setting-up-oauth: tokens do not expire and there is no refresh grant' },
  expiry: { whenMissing: 'never' },
  identity: { source: 'userinfo', url: 'https://api.intercom.io/me', subject: 'id', email: 'email' },
};
