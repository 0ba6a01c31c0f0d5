import type { ProviderEntryInput } from '../entry.schema';

const GITHUB_SCOPES = {
  repo: 'Read and write your repositories, including private ones',
  'read:user': 'Read your profile',
  'user:email': 'See your email addresses',
  'read:org': 'See your organizations and teams',
  gist: 'Create gists',
  workflow: 'Update GitHub Actions workflows',
};
const GITHUB_ERRORS = ['bad_verification_code', 'incorrect_client_credentials', 'bad_refresh_token', 'redirect_uri_mismatch'];
const GITHUB_USER = { source: 'userinfo' as const, url: 'https://api.github.com/user', subject: 'id', email: 'email' };

/** GitHub OAuth App: errors come with HTTP 200; scopes come back comma-separated; tokens never expire. */
export const github: ProviderEntryInput = {
  id: 'github',
  displayName: 'GitHub',
  docs: 'https://docs.github.com/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps',
  authorizeUrl: 'https://github.com/login/oauth/authorize',
  tokenUrl: 'https://github.com/login/oauth/access_token',
  scopes: { default: ['read:user'], descriptions: GITHUB_SCOPES },
  tokenAuthMethod: 'client_secret_post',
  response: { scopeSeparator: ',' },
  terminalErrors: GITHUB_ERRORS,
  refresh: { supported: false, rotation: 'never' },
  downscope: { onRefresh: false, source: 'docs.github.com authorizing-oauth-apps: OAuth App tokens have no refresh grant' },
  expiry: { whenMissing: 'never' },
  identity: GITHUB_USER,
  revocation: {
    url: 'https://api.github.com/applications/{client_id}/grant',
    method: 'DELETE',
    token: 'access_token',
    tokenIn: 'json',
    tokenParam: 'access_token',
    hint: false,
    clientAuth: 'client_secret_basic',
  },
};

/** GitHub App user tokens: 8 h access tokens, single-use refresh tokens (~6 months). Permissions, not scopes. */
export const githubApp: ProviderEntryInput = {
  id: 'github-app',
  displayName: 'GitHub (App)',
  docs: 'https://docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens',
  authorizeUrl: 'https://github.com/login/oauth/authorize',
  tokenUrl: 'https://github.com/login/oauth/access_token',
  scopes: {},
  tokenAuthMethod: 'client_secret_post',
  response: { scopeSeparator: ',' },
  terminalErrors: GITHUB_ERRORS,
  refresh: { supported: true, rotation: 'always' },
  downscope: {
    onRefresh: false,
    source:
      'docs.github.com refreshing-user-access-tokens: grant_type, client_id, ' +
      'client_secret, refresh_token; permissions come from the app, not scope',
  },
  expiry: { whenMissing: 'never' },
  identity: GITHUB_USER,
  revocation: {
    url: 'https://api.github.com/applications/{client_id}/token',
    method: 'DELETE',
    token: 'access_token',
    tokenIn: 'json',
    tokenParam: 'access_token',
    hint: false,
    clientAuth: 'client_secret_basic',
  },
};

const SLACK_SCOPES = {
  'chat:write': 'Send messages',
  'channels:read': 'See the public channels in your workspace',
  'channels:history': 'Read messages in public channels',
  'users:read': 'See people in your workspace',
  'search:read': 'Search your workspace',
};
// `invalid_auth` and `account_inactive` (HTTP 200, ok:false) mean the grant or the account is gone: no retry brings it back.
const SLACK_ERRORS = [
  'invalid_refresh_token',
  'invalid_code',
  'code_already_used',
  'token_revoked',
  'token_expired',
  'invalid_client_id',
  'bad_client_secret',
  'bad_redirect_uri',
  'invalid_grant_type',
  'invalid_auth',
  'account_inactive',
];
const SLACK_METADATA = {
  team_id: 'team.id',
  team_name: 'team.name',
  enterprise_id: 'enterprise.id',
  bot_user_id: 'bot_user_id',
  app_id: 'app_id',
  authed_user_id: 'authed_user.id',
  // The webhook's own URL is a credential: only where it posts is kept.
  incoming_webhook_channel: 'incoming_webhook.channel',
  incoming_webhook_channel_id: 'incoming_webhook.channel_id',
};
const SLACK_REVOKE = { url: 'https://slack.com/api/auth.revoke', token: 'access_token' as const, tokenIn: 'bearer' as const, hint: false };

/** Slack bot token (top level). `ok:false` with HTTP 200; comma scopes; expiry only with token rotation on. */
export const slack: ProviderEntryInput = {
  id: 'slack',
  displayName: 'Slack',
  docs: 'https://api.slack.com/authentication/oauth-v2',
  authorizeUrl: 'https://slack.com/oauth/v2/authorize',
  tokenUrl: 'https://slack.com/api/oauth.v2.access',
  scopes: { default: ['chat:write'], separator: ',', descriptions: SLACK_SCOPES },
  pkce: false,
  tokenAuthMethod: 'client_secret_post',
  response: { scopeSeparator: ',', okFlag: 'ok' },
  metadata: SLACK_METADATA,
  terminalErrors: SLACK_ERRORS,
  refresh: { supported: true, rotation: 'optional' },
  downscope: {
    onRefresh: false,
    source: 'api.slack.com/authentication/rotation: oauth.v2.access with grant_type=refresh_token takes no scope parameter',
  },
  expiry: { whenMissing: 'never' },
  identity: { source: 'response', subject: 'authed_user.id' },
  revocation: SLACK_REVOKE,
};

/** Slack user token: requested as `user_scope`, returned under `authed_user`; a refresh answers top-level. */
export const slackUser: ProviderEntryInput = {
  ...slack,
  id: 'slack-user',
  displayName: 'Slack (user)',
  scopes: { default: ['search:read'], separator: ',', param: 'user_scope', descriptions: SLACK_SCOPES },
  response: {
    accessToken: 'authed_user.access_token',
    refreshToken: 'authed_user.refresh_token',
    expiresIn: 'authed_user.expires_in',
    scope: 'authed_user.scope',
    tokenType: 'authed_user.token_type',
    scopeSeparator: ',',
    okFlag: 'ok',
  },
  refreshResponse: {
    accessToken: 'access_token',
    refreshToken: 'refresh_token',
    expiresIn: 'expires_in',
    scope: 'scope',
    tokenType: 'token_type',
  },
};

/** Atlassian (Jira, Confluence): audience + consent prompt; refresh tokens rotate. */
export const atlassian: ProviderEntryInput = {
  id: 'atlassian',
  displayName: 'Atlassian',
  docs: 'https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/',
  authorizeUrl: 'https://auth.atlassian.com/authorize',
  tokenUrl: 'https://auth.atlassian.com/oauth/token',
  scopes: {
    default: ['read:me', 'read:jira-work'],
    required: ['offline_access'],
    descriptions: {
      'read:me': 'See your profile',
      'read:jira-work': 'Read Jira issues and projects',
      'write:jira-work': 'Create and edit Jira issues',
      offline_access: 'Keep access while you are away',
    },
  },
  authorizeParams: { audience: 'api.atlassian.com', prompt: 'consent' },
  pkce: false,
  tokenAuthMethod: 'client_secret_post',
  // Reuse of a rotated token outside a 10-minute "leeway interval" revokes the family (Atlassian's
  // rotating refresh tokens announcement, developer community, 2022): retry within it.
  refresh: { supported: true, rotation: 'always', reuseGraceSeconds: 600 },
  downscope: {
    onRefresh: false,
    source:
      'developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/ (Use a refresh ' +
      'token): grant_type, client_id, client_secret, refresh_token; no scope parameter; rotating refresh ' +
      'tokens',
  },
  expiry: { whenMissing: { assumeSeconds: 3600 } },
  identity: { source: 'userinfo', url: 'https://api.atlassian.com/me', subject: 'account_id', email: 'email' },
};

/** Linear: comma-separated scopes; revocation with the token as bearer. */
export const linear: ProviderEntryInput = {
  id: 'linear',
  displayName: 'Linear',
  docs: 'https://linear.app/developers/oauth-2-0-authentication',
  authorizeUrl: 'https://linear.app/oauth/authorize',
  tokenUrl: 'https://api.linear.app/oauth/token',
  scopes: {
    default: ['read'],
    separator: ',',
    descriptions: {
      read: 'Read your issues, projects and teams',
      write: 'Create and edit issues and comments',
      'issues:create': 'Create issues',
    },
  },
  authorizeParams: { prompt: 'consent' },
  tokenAuthMethod: 'client_secret_post',
  response: { scopeSeparator: ' ' },
  refresh: { supported: true, rotation: 'optional' },
  downscope: { onRefresh: false, source: 'linear.app/developers/oauth-2-0-authentication (Refresh token): no scope parameter documented' },
  expiry: { whenMissing: 'never' },
  revocation: { url: 'https://api.linear.app/oauth/revoke', token: 'access_token', tokenIn: 'bearer', hint: false },
};

/** Notion: HTTP Basic client auth and a JSON token request; workspace metadata in the response. */
export const notion: ProviderEntryInput = {
  id: 'notion',
  displayName: 'Notion',
  docs: 'https://developers.notion.com/docs/authorization',
  authorizeUrl: 'https://api.notion.com/v1/oauth/authorize',
  tokenUrl: 'https://api.notion.com/v1/oauth/token',
  scopes: {},
  authorizeParams: { owner: 'user' },
  pkce: false,
  tokenAuthMethod: 'client_secret_basic',
  tokenEncoding: 'json',
  metadata: { workspace_id: 'workspace_id', workspace_name: 'workspace_name', bot_id: 'bot_id' },
  refresh: { supported: true, rotation: 'optional' },
  downscope: {
    onRefresh: false,
    source: 'developers.notion.com/docs/authorization: no scopes at all (capabilities are set on the integration)',
  },
  expiry: { whenMissing: 'never' },
  identity: { source: 'response', subject: 'owner.user.id', email: 'owner.user.person.email' },
};

/** GitLab (gitlab.com): OpenID Connect; refresh tokens rotate. */
export const gitlab: ProviderEntryInput = {
  id: 'gitlab',
  displayName: 'GitLab',
  docs: 'https://docs.gitlab.com/api/oauth2/',
  authorizeUrl: 'https://gitlab.com/oauth/authorize',
  tokenUrl: 'https://gitlab.com/oauth/token',
  issuer: 'https://gitlab.com',
  scopes: {
    default: ['openid', 'read_user'],
    descriptions: {
      read_user: 'Read your profile',
      api: 'Full access to the API as you',
      read_api: 'Read access to the API',
      read_repository: 'Read your repositories',
    },
  },
  tokenAuthMethod: 'client_secret_post',
  refresh: { supported: true, rotation: 'always' },
  downscope: {
    onRefresh: false,
    source: 'docs.gitlab.com/api/oauth2/ (refresh_token grant): no scope parameter documented; refresh tokens rotate',
  },
  expiry: { whenMissing: { assumeSeconds: 7200 } },
  identity: { source: 'id_token', subject: 'sub', email: 'email' },
  revocation: { url: 'https://gitlab.com/oauth/revoke', token: 'refresh_token', clientAuth: 'client_secret_post' },
};
