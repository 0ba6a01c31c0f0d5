import type { PoolClient, QueryResult } from 'pg';
import type { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { executeAndCommit } from '../db';
import { AuditReceipt } from './audit.types';
import type { PreparedEvent } from './audit-event';
import { chainHashOfParts, GENESIS_HASH } from './canonical';

const SELECT_HEAD = 'SELECT seq::text AS seq, hash FROM audit_chain_head WHERE id = 1 FOR UPDATE';
const CREATE_HEAD = 'INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, $1) ON CONFLICT (id) DO NOTHING';
/**
 * One round trip (a simple-protocol query of three statements): open the transaction, bound every
 * statement of the flush (the wait for the head lock included), lock the head. The timeout is an
 * integer checked in the constructor, the only value written into the text.
 */
const OPEN_AND_LOCK = (timeoutMs: number) => `BEGIN; SET LOCAL statement_timeout = ${timeoutMs}; ${SELECT_HEAD}`;
/**
 * One statement for the whole batch, with three parameters whatever its size: the events as one
 * JSON array, each element an event's canonical text (the text that was hashed: its `details` is
 * the jsonb stored, its `seq` a string of digits that bigint reads) plus `prev_hash` and `hash` in
 * hex, built with string appends rather than 13 column arrays that `pg` would escape element by
 * element. `jsonb_to_recordset` yields the rows in array order.
 */
const APPEND = `
  WITH appended AS (
    INSERT INTO audit_events (seq, id, at, tenant, action, outcome, reason, agent, subject, integration, details, prev_hash, hash)
    SELECT e.seq, e.id, e.at, e.tenant, e.action, e.outcome, e.reason, e.agent, e.subject, e.integration, e.details,
           decode(e.prev_hash, 'hex'), decode(e.hash, 'hex')
    FROM jsonb_to_recordset($1::jsonb) AS e(seq bigint, id uuid, at timestamptz, tenant text, action text, outcome text, reason text,
                                            agent text, subject text, integration text, details jsonb, prev_hash text, hash text)
  )
  UPDATE audit_chain_head SET seq = $2, hash = $3 WHERE id = 1`;

/** A batch numbered and hashed: the `APPEND` parameters and a receipt per event. */
export interface ChainedBatch {
  json: string;
  seq: string;
  hash: Buffer;
  receipts: AuditReceipt[];
}

/**
 * Writes batches to the chain, one transaction each: lock the head row (which serialises
 * every writer in every process), number and hash the events, insert them, move the head.
 * It talks to a pool client directly so that a hung flush can be cut off: aborting the
 * signal destroys the connection, and Postgres rolls the transaction back.
 */
export class AuditChainWriter {
  private readonly openAndLock: string;

  constructor(
    private readonly ds: DataSource,
    timeoutMs: number,
  ) {
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) throw new TypeError('audit timeoutMs must be a positive integer');
    this.openAndLock = OPEN_AND_LOCK(timeoutMs);
  }

  /**
   * `take` is called once the head is locked, so that events queued while waiting for the
   * lock join this batch and events whose caller already gave up are not written.
   */
  async append(macKey: Buffer, take: () => PreparedEvent[], signal: AbortSignal): Promise<AuditReceipt[]> {
    const lease = await checkout(this.ds, signal);
    try {
      const head = await lockHead(lease.client, this.openAndLock);
      if (signal.aborted) throw new Error('audit flush abandoned');
      const batch = chainBatch(take(), head, macKey);
      if (batch.receipts.length === 0) {
        await lease.client.query('ROLLBACK');
      } else {
        // The insert and the COMMIT in one round trip; resolves once Postgres has answered COMMIT.
        await executeAndCommit(lease.client, APPEND, [batch.json, batch.seq, batch.hash]);
      }
      lease.release();
      return batch.receipts;
    } catch (err) {
      // Never reuse a connection in an unknown state; closing it also rolls back.
      lease.release(err instanceof Error ? err : new Error('audit flush failed'));
      throw err;
    }
  }
}

async function lockHead(client: PoolClient, openAndLock: string): Promise<{ seq: bigint; hash: Buffer }> {
  // A multi-statement query answers with one result per statement.
  const results = (await client.query(openAndLock)) as unknown as Array<QueryResult<{ seq: string; hash: Buffer }>>;
  let res = results[results.length - 1];
  if (res.rows.length === 0) {
    // First use. Concurrent creators block on the primary key until the winner commits.
    await client.query(CREATE_HEAD, [GENESIS_HASH]);
    res = await client.query<{ seq: string; hash: Buffer }>(SELECT_HEAD);
  }
  return { seq: BigInt(res.rows[0].seq), hash: res.rows[0].hash };
}

/**
 * Numbers and hashes `events` after `head`, and writes the batch's JSON in the same pass: each
 * event's canonical text is made once (`prepareEvent`) and used for both.
 */
export function chainBatch(events: PreparedEvent[], head: { seq: bigint; hash: Buffer }, macKey: Buffer): ChainedBatch {
  let seq = head.seq;
  let hash = head.hash;
  let hashHex = hash.toString('hex');
  let seqText = '';
  const receipts = new Array<AuditReceipt>(events.length);
  let json = '[';
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    seq += 1n;
    seqText = seq.toString();
    const prevHex = hashHex;
    hash = chainHashOfParts(macKey, hash, e.beforeSeq, seqText, e.afterSeq);
    hashHex = hash.toString('hex');
    json += `${i ? ',' : ''}${e.beforeSeq}${seqText}${e.afterSeq},"prev_hash":"${prevHex}","hash":"${hashHex}"}`;
    receipts[i] = { id: e.id, seq: seqText };
  }
  return { json: json + ']', seq: seqText, hash, receipts };
}

interface Lease {
  client: PoolClient;
  /** Returns the client to the pool, or destroys it when given an error. Idempotent. */
  release(destroy?: Error): void;
}

async function checkout(ds: DataSource, signal: AbortSignal): Promise<Lease> {
  const [client, done] = (await (ds.driver as PostgresDriver).obtainMasterConnection()) as [PoolClient, (err?: Error) => void];
  let released = false;
  // A checked-out pg client emits 'error' on a broken socket; unhandled, that would crash the process.
  const onClientError = (): void => lease.release(new Error('audit connection error'));
  const onAbort = (): void => lease.release(new Error('audit flush abandoned'));
  const lease: Lease = {
    client,
    release(destroy?: Error) {
      if (released) return;
      released = true;
      signal.removeEventListener('abort', onAbort);
      client.removeListener('error', onClientError);
      if (destroy) client.on('error', () => undefined); // late errors from the socket being torn down
      done(destroy);
    },
  };
  client.on('error', onClientError);
  if (signal.aborted) {
    lease.release(new Error('audit flush abandoned'));
    throw new Error('audit flush abandoned');
  }
  signal.addEventListener('abort', onAbort, { once: true });
  return lease;
}
