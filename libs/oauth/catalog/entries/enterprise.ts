import type { ProviderEntryInput } from '../entry.schema';

const GOOGLE_SCOPES: Record<string, string> = {
  openid: 'Confirm who you are',
  email: 'See your email address',
  profile: 'See your name and profile picture',
  'https://www.googleapis.com/auth/calendar': 'See, edit, create and delete all your calendars',
  'https://www.googleapis.com/auth/calendar.readonly': 'See your calendars and events',
  'https://www.googleapis.com/auth/calendar.events': 'See and edit events on your calendars',
  'https://www.googleapis.com/auth/gmail.readonly': 'Read your email messages and settings',
  'https://www.googleapis.com/auth/gmail.send': 'Send email on your behalf',
  'https://www.googleapis.com/auth/drive.readonly': 'See and download your Google Drive files',
  'https://www.googleapis.com/auth/drive.file': 'See and edit the Drive files this app opens or creates',
};

/** Google: a refresh token only with access_type=offline (reliably with prompt=consent); it never rotates. */
export const google: ProviderEntryInput = {
  id: 'google',
  displayName: 'Google',
  docs: 'https://developers.google.com/identity/protocols/oauth2/web-server',
  authorizeUrl: 'https://accounts.google.com/o/oauth2/v2/auth',
  tokenUrl: 'https://oauth2.googleapis.com/token',
  issuer: 'https://accounts.google.com',
  scopes: { default: ['openid', 'email'], descriptions: GOOGLE_SCOPES },
  authorizeParams: { access_type: 'offline', prompt: 'consent', include_granted_scopes: 'true' },
  tokenAuthMethod: 'client_secret_post',
  metadata: { hd: 'id_token_claims.hd' },
  refresh: { supported: true, rotation: 'never', keepAliveDays: 30 }, // unused for 6 months, a refresh token dies
  downscope: {
    onRefresh: false,
    source:
      'developers.google.com/identity/protocols/oauth2/web-server#offline: the ' +
      'refresh request takes client_id, client_secret, grant_type, refresh_token; no scope parameter is ' +
      'documented',
  },
  expiry: { whenMissing: { assumeSeconds: 3599 } },
  identity: { source: 'id_token', subject: 'sub', email: 'email' },
  revocation: { url: 'https://oauth2.googleapis.com/revoke', token: 'refresh_token', hint: false, clientAuth: 'none' },
};

/** Microsoft Entra ID: tenant-templated URLs; needs offline_access; a new refresh token on every refresh. */
export const microsoft: ProviderEntryInput = {
  id: 'microsoft',
  displayName: 'Microsoft',
  docs: 'https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow',
  params: {
    tenant: {
      pattern:
        '^(common|organizations|consumers|' +
        '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[A-Za-z0-9-]{1,63}(\\.[A-Za-z0-9-]{1,63}){1,4})$',
      default: 'common',
      description: 'Directory (tenant) id or domain; common, organizations or consumers',
    },
  },
  authorizeUrl: 'https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize',
  tokenUrl: 'https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token',
  scopes: {
    default: ['openid', 'email', 'profile', 'User.Read'],
    required: ['offline_access'],
    descriptions: {
      'User.Read': 'Sign you in and read your profile',
      'Mail.Read': 'Read your mail',
      'Mail.Send': 'Send mail as you',
      'Calendars.ReadWrite': 'Read and write your calendars',
      'Files.Read': 'Read your files',
      offline_access: 'Keep access while you are away',
    },
  },
  tokenAuthMethod: 'client_secret_post',
  metadata: { tid: 'id_token_claims.tid', oid: 'id_token_claims.oid' },
  terminalErrors: ['interaction_required', 'consent_required'],
  // 90 days of inactivity end it (AADSTS700082). A refresh returns a new token but "doesn't revoke old
  // refresh tokens" (learn.microsoft.com, refresh tokens in the Microsoft identity platform): the token
  // an interrupted call presented still works, so a retry is safe long after (the schema's maximum).
  refresh: { supported: true, rotation: 'always', keepAliveDays: 30, reuseGraceSeconds: 3600 },
  downscope: {
    onRefresh: true,
    source:
      'learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token: ' +
      'scope on a refresh may be a subset of the granted ones (PROVIDERS.md). ' +
      'Rotates refresh tokens: the vault refuses to downscope it for now',
  },
  expiry: { whenMissing: { assumeSeconds: 3600 } },
  identity: { source: 'id_token', subject: 'oid', email: 'email' },
};

const SALESFORCE_COMMON = {
  scopes: {
    default: ['api'],
    required: ['refresh_token'],
    descriptions: {
      api: 'Access and manage your Salesforce data',
      refresh_token: 'Keep access while you are away',
      full: 'Full access to your Salesforce data',
      id: 'See your identity',
    },
  },
  tokenAuthMethod: 'client_secret_post' as const,
  metadata: { instance_url: 'instance_url', id: 'id', issued_at: 'issued_at' },
  refresh: { supported: true, rotation: 'optional' as const },
  downscope: {
    onRefresh: false,
    source:
      'help.salesforce.com remoteaccess_oauth_refresh_token_flow.htm: grant_type, ' +
      'refresh_token, client_id, client_secret, format; no scope parameter',
  },
  identity: { source: 'response' as const, subject: 'id' },
};

/** The org's session timeout is the token lifetime; nothing in the response says it. */
const SESSION_TIMEOUT = {
  pattern: '^[0-9]{3,5}$',
  default: '900',
  description: 'Seconds a token is assumed valid (the org session timeout; 900 is the shortest Salesforce allows)',
};
const SALESFORCE_EXPIRY = {
  whenMissing: { assumeSeconds: 900, param: 'session_timeout_seconds' },
  issuedAt: { path: 'issued_at', unit: 'ms' as const },
};
const LOGIN_HOST =
  '^(login\\.salesforce\\.com|test\\.salesforce\\.com|[a-z0-9][a-z0-9-]{0,62}(\\.sandbox|\\.develop|\\.scratch)?\\.my\\.salesforce\\.com)$';

function salesforce(
  id: string,
  displayName: string,
  host: string,
  param: { pattern: string; default?: string; description: string },
): ProviderEntryInput {
  const paramName = host === '{my_domain}.my.salesforce.com' ? 'my_domain' : 'login_host';
  return {
    id,
    displayName,
    docs: 'https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_web_server_flow.htm',
    params: { [paramName]: param, session_timeout_seconds: SESSION_TIMEOUT },
    authorizeUrl: `https://${host}/services/oauth2/authorize`,
    tokenUrl: `https://${host}/services/oauth2/token`,
    ...SALESFORCE_COMMON,
    expiry: SALESFORCE_EXPIRY,
    revocation: { url: `https://${host}/services/oauth2/revoke`, token: 'refresh_token', hint: false, clientAuth: 'none' },
  };
}

export const salesforceProduction = salesforce('salesforce', 'Salesforce', '{login_host}', {
  pattern: LOGIN_HOST,
  default: 'login.salesforce.com',
  description: "Login host: login.salesforce.com, test.salesforce.com or the org's My Domain host",
});
export const salesforceSandbox = salesforce('salesforce-sandbox', 'Salesforce (sandbox)', '{login_host}', {
  pattern: LOGIN_HOST,
  default: 'test.salesforce.com',
  description: 'Login host of the sandbox',
});
export const salesforceMyDomain = salesforce('salesforce-mydomain', 'Salesforce (My Domain)', '{my_domain}.my.salesforce.com', {
  pattern: '^[a-z0-9][a-z0-9-]{0,62}(\\.sandbox|\\.develop|\\.scratch)?$',
  description: 'My Domain name: the part before .my.salesforce.com',
});
