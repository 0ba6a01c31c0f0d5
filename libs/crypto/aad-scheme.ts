import { TenantId } from '../kernel';
import { context, contextOf } from './aead';
import { KeyUnwrapError } from './key-provider';

/**
 * Which encryption context (AAD) a sealed field was written under, told by the ciphertext's first
 * byte. Scheme 1 (the blob's own format byte, 0x01) bound tenant, table, record id and field.
 * Scheme 2 (a 0x02 byte in front of the blob) binds, in addition, the columns that say whose the
 * secret is and what it is for (`SEALED_LAYOUT[table].bind`): a row relabelled in place (its
 * subject or integration changed by a database writer) no longer opens. The scheme number is part
 * of the AAD itself, so stripping or adding the marker byte breaks the tag as well.
 */
export type AadScheme = 1 | 2;
export const CURRENT_AAD_SCHEME: AadScheme = 2;
const V2_MARKER = 0x02;
const V1_FORMAT = 0x01;

/**
 * Every table whose rows carry fields sealed by the keyring, with the columns bound into each
 * field's AAD and the column each field is stored in. A new sealed table must be added here: the
 * keyring refuses a record whose binding does not name exactly these columns.
 */
export const SEALED_LAYOUT = {
  connections: {
    bind: ['subject', 'integration'],
    fields: {
      access_token: 'access_token_ct',
      refresh_token: 'refresh_token_ct',
      api_key: 'api_key_ct',
      previous_api_key: 'previous_api_key_ct',
    },
  },
  integrations: { bind: ['name'], fields: { client_secret: 'client_secret_ct' } },
  connect_sessions: { bind: ['subject', 'integration'], fields: { code_verifier: 'code_verifier_ct' } },
  webhook_endpoints: { bind: ['url'], fields: { secret: 'secret_ct' } },
  // The tenant's OpenID provider for user sign-in: the secret opens only for the IdP it was given for.
  user_logins: { bind: ['issuer', 'client_id'], fields: { client_secret: 'client_secret_ct' } },
  // A cache (re-derived on demand): bound also to its connection's owner columns, which live in
  // `connections`, so the re-seal job drops old-scheme rows instead of re-sealing them.
  derived_tokens: {
    bind: ['connection_id', 'scope_key', 'subject', 'integration'],
    fields: { access_token: 'access_token_ct' },
    cache: true,
  },
} as const satisfies Record<string, { bind: readonly string[]; fields: Record<string, string>; cache?: true }>;

export type SealedTable = keyof typeof SEALED_LAYOUT;
export const SEALED_TABLES = Object.keys(SEALED_LAYOUT) as SealedTable[];

/** Where a ciphertext lives and whose it is: all of it is bound into the AAD (DESIGN.md invariant 3). */
export interface RecordRef {
  tenant: TenantId;
  table: string;
  id: string;
  /** The row's identifying columns (`SEALED_LAYOUT[table].bind`), by column name, as stored. */
  bind: Record<string, string>;
}

/** Each sealed table's binding columns, sorted (by UTF-16 code unit, as `Array.prototype.sort`): made once. */
const SORTED_BIND = new Map<string, readonly string[]>(SEALED_TABLES.map((t) => [t, [...SEALED_LAYOUT[t].bind].sort()]));

/** Whether `ref.bind` holds exactly its table's binding columns, each a string (as many own keys, every wanted one present). */
function bindsExactly(ref: RecordRef): boolean {
  const wanted = SORTED_BIND.get(ref.table);
  const bind = ref.bind ?? {};
  if (!wanted) return false;
  let given = 0;
  for (const k in bind) if (Object.hasOwn(bind, k)) given++;
  return given === wanted.length && wanted.every((k) => Object.hasOwn(bind, k) && typeof bind[k] === 'string');
}

/** Precondition of every seal and open: a known table, and a binding of exactly its identifying columns. */
export function checkRef(ref: RecordRef): void {
  const wanted = SORTED_BIND.get(ref.table);
  if (!wanted) throw new Error(`not a sealed table: ${ref.table}`);
  if (!bindsExactly(ref)) throw new Error(`a ${ref.table} record must bind exactly ${wanted.join(', ')}`);
  if (!ref.tenant || !ref.id) throw new Error('a sealed record needs its tenant and id');
}

/** The scheme a stored ciphertext says it was written under; anything else is not ours. */
export function schemeOf(ct: Buffer): AadScheme {
  if (ct.length > 0 && ct[0] === V2_MARKER) return 2;
  if (ct.length > 0 && ct[0] === V1_FORMAT) return 1;
  throw new KeyUnwrapError();
}

/** The AEAD blob inside a stored ciphertext, without its scheme marker. */
export function blobOf(ct: Buffer, scheme: AadScheme): Buffer {
  return scheme === 2 ? ct.subarray(1) : ct;
}

/** The stored form of a blob sealed under `scheme`. */
export function framed(blob: Buffer, scheme: AadScheme): Buffer {
  return scheme === 2 ? Buffer.concat([Buffer.of(V2_MARKER), blob]) : blob;
}

/** The AAD of one field under a scheme. Binding columns go in sorted by name, each as name then value. */
export function fieldAad(ref: RecordRef, field: string, scheme: AadScheme): Buffer {
  if (scheme === 1) return context('field', ref.tenant, ref.table, ref.id, field);
  const keys = bindsExactly(ref) ? SORTED_BIND.get(ref.table)! : Object.keys(ref.bind).sort();
  const parts: string[] = ['field', 'aad-v2', ref.tenant, ref.table, ref.id, field];
  for (const k of keys) parts.push(k, ref.bind[k]);
  return contextOf(parts);
}
