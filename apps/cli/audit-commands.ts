import { createPublicKey, KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { DataSource } from 'typeorm';
import { verifyAuditChain } from '../../libs/audit';
import { AnchorInputError, AuditAnchor, parseAnchorLines, verifyWithAnchors } from '../../libs/audit-anchors';
import { VaultConfig } from '../../libs/config';
import { createAuditSigner, createKeyProvider, SystemKeys } from '../../libs/crypto';

export const AUDIT_USAGE = `  audit verify [--anchors FILE|-] [--public-key FILE]
                 recompute the audit hash chain; with anchors (JSON lines as the vault emits them:
                 AUDIT_ANCHOR_FILE, "audit anchor" log lines, audit.anchor webhook bodies) also check
                 each anchor's signature (the key provider's public key, or --public-key PEM/JWK) and
                 that the chain still holds every anchored head; exit 0 if intact, 2 if tampered`;

type WithDatabase = <T>(fn: (ds: DataSource) => Promise<T>) => Promise<T>;

/** `audit verify`: the report on stdout; on a failure, the first anchor it breaks on stderr. Returns the exit code. */
export async function runAuditVerify(config: VaultConfig, withDatabase: WithDatabase, opts: { anchors?: string; publicKey?: string }): Promise<number> {
  let anchors: AuditAnchor[] | undefined;
  let givenKey: KeyObject | undefined;
  try {
    if (opts.anchors !== undefined) anchors = parseAnchorLines(opts.anchors === '-' ? await readStdin() : await readFile(opts.anchors, 'utf8'));
    if (opts.publicKey !== undefined) givenKey = readPublicKey(await readFile(opts.publicKey, 'utf8'));
  } catch (err) {
    const what = err instanceof AnchorInputError || err instanceof PublicKeyError ? err.message : `cannot read ${(err as NodeJS.ErrnoException).path ?? 'input'} (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
    process.stderr.write(`audit verify: ${what}\n`);
    return 64;
  }
  if (anchors !== undefined && anchors.length === 0) {
    process.stderr.write('audit verify: the anchors input holds no anchor\n');
    return 64;
  }
  const provider = createKeyProvider(config);
  await provider.init();
  const signer = anchors && !givenKey ? createAuditSigner(config) : undefined;
  if (anchors && !givenKey && !signer) {
    process.stderr.write('audit verify: no public key: set AZURE_KEYVAULT_AUDIT_KEY_NAME or pass --public-key\n');
    return 64;
  }
  await signer?.init();
  const report = await withDatabase(async (ds) => {
    const macKey = await new SystemKeys(ds, provider).get('audit-mac');
    if (!anchors) return verifyAuditChain(ds, macKey);
    return verifyWithAnchors(ds, macKey, anchors, { vault: config.publicUrl, publicKey: async (kid) => givenKey ?? (await signer!.publicKey(kid)) });
  });
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  if (!report.ok) {
    const a = report.failedAnchor;
    process.stderr.write(a ? `audit verify: anchor seq=${a.seq}${'at' in a ? ` at=${a.at}` : ''} fails: ${report.problem}\n` : `audit verify: chain broken at seq ${report.firstBadSeq}: ${report.problem}\n`);
  }
  return report.ok ? 0 : 2;
}

class PublicKeyError extends Error {}

/** A PEM public key, or a JWK (as JSON). */
function readPublicKey(text: string): KeyObject {
  try {
    const trimmed = text.trim();
    const key = trimmed.startsWith('{') ? createPublicKey({ key: JSON.parse(trimmed) as import('node:crypto').JsonWebKey, format: 'jwk' }) : createPublicKey(trimmed);
    if (key.type !== 'public') throw new Error('not public');
    return key;
  } catch {
    throw new PublicKeyError('--public-key must be a PEM public key or a public JWK');
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
