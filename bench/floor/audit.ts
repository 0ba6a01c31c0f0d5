/**
 * The floor's audit write, with the vault's durability: an event is committed (keyed hash
 * chain, same table, same indexes) before the caller is answered. Group commit like the
 * vault's AuditLog: two flushes at most, each taking the events queued (≤ 256) once it holds the chain head;
 * two round trips per flush (open + lock the head; insert + COMMIT), like the vault's AuditChainWriter.
 */
import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import { chainHash } from '../../libs/audit/canonical';
import { executeAndCommit } from '../../libs/db/execute-and-commit';

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
      FROM unnest($1::bigint[], $2::uuid[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::jsonb[],
        $9::bytea[], $10::bytea[])
        AS u(seq, id, at, tenant, agent, subject, integration, details, prev, hash)
  )
  UPDATE audit_chain_head SET seq = $11, hash = $12 WHERE id = 1`;

export class FloorAudit {
  private queue: Queued[] = [];
  private inFlight = 0;
  private awaitingLock = false;

  constructor(
    private readonly pool: Pool,
    private readonly macKey: Buffer,
  ) {}

  record(e: FloorEvent): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ row: { id: randomUUID(), at: new Date().toISOString(), ...e }, done: (err) => (err ? reject(err) : resolve()) });
      this.schedule();
    });
  }

  /** Like the vault's AuditLog: up to two flushes, the second waiting for the head lock; each takes its batch once it holds the lock. */
  private schedule(): void {
    if (this.awaitingLock || this.inFlight >= 2 || this.queue.length === 0) return;
    this.awaitingLock = true;
    this.inFlight++;
    setImmediate(
      () =>
        void this.flush().finally(() => {
          this.inFlight--;
          this.schedule();
        }),
    );
  }

  private async flush(): Promise<void> {
    let batch: Queued[] = [];
    let took = false;
    let client;
    try {
      client = await this.pool.connect();
      // Open and lock in one round trip, as the vault's AuditChainWriter does.
      const results = (await client.query(
        'BEGIN; SELECT seq::text AS seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE',
      )) as unknown as Array<{ rows: any[] }>;
      const head = results[1].rows[0];
      batch = this.queue.splice(0, BATCH_MAX);
      took = true;
      this.awaitingLock = false;
      this.schedule();
      if (batch.length === 0) {
        await client.query('ROLLBACK');
        client.release();
        return;
      }
      let seq = BigInt(head.seq);
      let prev: Buffer = head.hash;
      const cols: unknown[][] = Array.from({ length: 10 }, () => []);
      for (const { row } of batch) {
        seq += 1n;
        const chained = {
          seq: seq.toString(),
          id: row.id,
          at: row.at,
          tenant: row.tenant,
          action: 'credential.release',
          outcome: 'allowed',
          reason: null,
          agent: row.agent,
          subject: row.subject,
          integration: row.integration,
          details: row.details,
        };
        const hash = chainHash(this.macKey, prev, chained);
        [chained.seq, row.id, row.at, row.tenant, row.agent, row.subject, row.integration, JSON.stringify(row.details), prev, hash].forEach(
          (v, i) => cols[i].push(v),
        );
        prev = hash;
      }
      // The insert and the COMMIT in one round trip, as the vault's AuditChainWriter does.
      await executeAndCommit(client, APPEND, [...cols, seq.toString(), prev]);
      client.release();
      batch.forEach((q) => q.done());
    } catch (err) {
      if (!took) this.awaitingLock = false;
      client?.release(err as Error);
      batch.forEach((q) => q.done(err as Error));
    }
  }
}
