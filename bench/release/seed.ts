/**
 * Seeds sealed API-key connections fast (the approach of bench/key-rotation.bench.ts): each row
 * gets its own random DEK, wrapped by the tenant key with the record's AAD, and its own field
 * ciphertext, exactly as `Keyring.seal` writes them; 5,000 rows per `INSERT … SELECT FROM unnest`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { asTenantId } from '../../libs/kernel';
import { context, CURRENT_AAD_SCHEME, fieldAad, framed, seal } from '../../libs/crypto';
import { log } from './processes';

export interface TenantKey {
  version: number;
  key: Buffer;
}

/** A pg client on the vault's schema. */
export async function schemaClient(url: string, schema = 'vault'): Promise<Client> {
  const c = new Client({ connectionString: url, options: `-c search_path=${schema}` });
  // An idle client whose backend is terminated (the database dropped at the end: 57P01) emits
  // 'error'; unheard, that would end the benchmark process. Its next query fails anyway.
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

/** The API key every seeded connection holds: known, so a release can be checked. */
export const seededKey = (subject: string, integration: string) => `sk-bench-${integration}-${subject}`;

/**
 * Users `u<from>` … `u<to - 1>`, one connection per integration each. The DEK header (format
 * byte, TK version) and both AADs are Keyring's.
 */
export async function seedConnections(
  db: Client,
  tenant: string,
  tk: TenantKey,
  integrations: string[],
  from: number,
  to: number,
): Promise<void> {
  const header = Buffer.alloc(5);
  header[0] = 0x01;
  header.writeUInt32BE(tk.version, 1);
  const BATCH = 5000;
  const rows = (to - from) * integrations.length;
  let done = 0;
  let inflight: Promise<unknown> = Promise.resolve();
  const ids: string[] = [];
  const subjects: string[] = [];
  const names: string[] = [];
  const deks: Buffer[] = [];
  const cts: Buffer[] = [];
  const flush = async () => {
    await inflight;
    inflight = db.query(
      `INSERT INTO connections (id, tenant, integration, subject, kind, tk_version, dek_wrapped, api_key_ct)
       SELECT u.id, $1, u.i, u.s, 'api_key', $2, u.d, u.c
         FROM unnest($3::uuid[], $4::text[], $5::text[], $6::bytea[], $7::bytea[]) AS u(id, i, s, d, c)`,
      [tenant, tk.version, ids.splice(0), names.splice(0), subjects.splice(0), deks.splice(0), cts.splice(0)],
    );
  };
  for (let u = from; u < to; u++) {
    for (const integration of integrations) {
      const id = randomUUID();
      const dek = randomBytes(32);
      ids.push(id);
      subjects.push(`u${u}`);
      names.push(integration);
      // As the keyring seals it: the current AAD scheme, bound to the row's subject and integration.
      const ref = { tenant: asTenantId(tenant), table: 'connections', id, bind: { subject: `u${u}`, integration } };
      cts.push(
        framed(seal(dek, Buffer.from(seededKey(`u${u}`, integration)), fieldAad(ref, 'api_key', CURRENT_AAD_SCHEME)), CURRENT_AAD_SCHEME),
      );
      deks.push(Buffer.concat([header, seal(tk.key, dek, context('dek', tenant, 'connections', id, tk.version))]));
      dek.fill(0);
      if (ids.length === BATCH) {
        await flush();
        done += BATCH;
        if (done % 100_000 === 0) log(`  seeded ${done}/${rows}`);
      }
    }
  }
  if (ids.length) await flush();
  await inflight;
}
