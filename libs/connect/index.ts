export { ConnectModule } from './connect.module';
export { ConnectSessionService, CONNECT_URL_TTL_SECONDS, BROWSER_SESSION_SECONDS, MAX_UNOPENED_OFFERS } from './connect-session.service';
export type { CreateConnectSession, BrowserSession } from './connect-session.service';
export type { ConnectSession, ConnectSessionStatus } from './connect-session.store';
export { AuthorizationFlow, sessionRef } from './authorization-flow.service';
export type { CallbackOutcome } from './authorization-flow.service';
export { ConsentActions } from './consent-actions.service';
export { ConsentViewService } from './consent-view.service';
export type { ConsentView, ConnectionRow, AgentGrant } from './consent-view.service';
export { DisconnectService } from './disconnect.service';
export type { DisconnectResult } from './disconnect.service';
export { checkReturnUrl, withOutcome } from './return-url';
export { checkCsrf, csrfToken, sessionCookies } from './browser-binding';

