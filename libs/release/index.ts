export { ReleaseModule } from './release.module';
export { CredentialReleaseService } from './release.service';
export type { ReleaseCaller, ReleaseResult } from './release.service';
export { ScopeCeilingCheck } from './ceiling-check';
export { CONNECT_LINKS, NoConnectLinks, NoConnectLinksModule } from './connect-links';
export type { ConnectLinkIssuer } from './connect-links';
