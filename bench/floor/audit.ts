/**
 * The floor's audit write, with the vault's durability: an event is committed (keyed hash
 * chain, same table, same indexes) before the caller is answered. Group commit like the
 * vault's AuditLog: one flush at a time, each taking every event queued meanwhile (≤ 256).
 */
import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { chainHash } from '../../libs/audit/canonical';

export interface FloorEvent {
  tenant: string;
  agent: string;
  subject: string;
  integration: string;
  details: Record<string, unknown>;
}

interface Queued {
  row: { id: string; at: string } & FloorEvent;
  done(err?: Error): void;
}

const BATCH_MAX = 256;
const APPEND = `
  WITH appended AS (
    INSERT INTO audit_events (seq, id, at, tenant, action, outcome, agent, subject, integration, details, prev_hash, hash)
    SELECT u.seq, u.id, u.at, u.tenant, 'credential.release', 'allowed', u.agent, u.subject, u.integration, u.details, u.prev, u.hash
      FROM unnest($1::bigint[], $2::uuid[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::jsonb[], $9::bytea[], $10::bytea[])
        AS u(seq, id, at, tenant, agent, subject, integration, details, prev, hash)
  )
  UPDATE audit_chain_head SET seq = $11, hash = $12 WHERE id = 1`;

export class FloorAudit {
  private queue: Queued[] = [];
  private flushing = false;

  constructor(
    private readonly pool: Pool,
    private readonly macKey: Buffer,
  ) {}

  record(e: FloorEvent): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ row: { id: randomUUID(), at: new Date().toISOString(), ...e }, done: (err) => (err ? reject(err) : resolve()) });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flushAll());
      }
    });
  }

  private async flushAll(): Promise<void> {
    while (this.queue.length) {
      const batch = this.queue.splice(0, BATCH_MAX);
      try {
        await this.flush(batch);
        batch.forEach((q) => q.done());
      } catch (err) {
        batch.forEach((q) => q.done(err as Error));
      }
    }
    this.flushing = false;
  }

  private async flush(batch: Queued[]): Promise<void> {
    const client = await this.pool.connect();
    try {
      // Open and lock in one round trip, as the vault's AuditChainWriter does.
      const results = (await client.query('BEGIN; SELECT seq::text AS seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE')) as unknown as Array<{ rows: any[] }>;
      const head = results[1].rows[0];
      let seq = BigInt(head.seq);
      let prev: Buffer = head.hash;
      const cols: unknown[][] = Array.from({ length: 10 }, () => []);
      for (const { row } of batch) {
        seq += 1n;
        const chained = { seq: seq.toString(), id: row.id, at: row.at, tenant: row.tenant, action: 'credential.release', outcome: 'allowed', reason: null, agent: row.agent, subject: row.subject, integration: row.integration, details: row.details };
        const hash = chainHash(this.macKey, prev, chained);
        [chained.seq, row.id, row.at, row.tenant, row.agent, row.subject, row.integration, JSON.stringify(row.details), prev, hash].forEach((v, i) => cols[i].push(v));
        prev = hash;
      }
      await client.query(APPEND, [...cols, seq.toString(), prev]);
      await client.query('COMMIT');
      client.release();
    } catch (err) {
      client.release(err as Error);
      throw err;
    }
  }
}
