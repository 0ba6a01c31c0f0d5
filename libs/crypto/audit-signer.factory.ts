import type { VaultConfig } from '../config';
import { AuditSigner } from './audit-signer';
import { AzureAuditSigner } from './azure-audit-signer';
import { LocalAuditSigner, localAuditKeyFile } from './local-audit-signer';

/** The configured provider's anchor signer; undefined when Key Vault has no audit key configured. */
export function createAuditSigner(config: VaultConfig): AuditSigner | undefined {
  const kp = config.keyProvider;
  if (kp.kind === 'local') return new LocalAuditSigner(localAuditKeyFile(kp.kekFile));
  return kp.auditKeyName ? new AzureAuditSigner(kp, kp.auditKeyName) : undefined;
}
