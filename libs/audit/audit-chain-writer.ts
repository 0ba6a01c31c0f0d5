import type { PoolClient, QueryResult } from 'pg';
import type { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { executeAndCommit } from '../db';
import { AuditReceipt } from './audit.types';
import type { PreparedEvent } from './audit-event';
import { chainHash, GENESIS_HASH } from './canonical';

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
 * JSON array (each event's canonical `details` embedded as JSON, so the jsonb stored is the value
 * that was hashed; hashes in hex), built with string appends rather than 13 column arrays that
 * `pg` would escape element by element. `jsonb_to_recordset` yields the rows in array order.
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

interface ChainedRow extends PreparedEvent {
  seq: string;
  prevHash: Buffer;
  hash: Buffer;
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
      const rows = chain(take(), head, macKey);
      if (rows.length === 0) {
        await lease.client.query('ROLLBACK');
      } else {
        const last = rows[rows.length - 1];
        // The insert and the COMMIT in one round trip; resolves once Postgres has answered COMMIT.
        await executeAndCommit(lease.client, APPEND, [eventsJson(rows), last.seq, last.hash]);
      }
      lease.release();
      return rows.map((r) => ({ id: r.id, seq: r.seq }));
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

function chain(events: PreparedEvent[], head: { seq: bigint; hash: Buffer }, macKey: Buffer): ChainedRow[] {
  let seq = head.seq;
  let prevHash = head.hash;
  const rows = new Array<ChainedRow>(events.length);
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    seq += 1n;
    const row: ChainedRow = {
      seq: seq.toString(),
      id: e.id,
      at: e.at,
      tenant: e.tenant,
      action: e.action,
      outcome: e.outcome,
      reason: e.reason,
      agent: e.agent,
      subject: e.subject,
      integration: e.integration,
      detailsJson: e.detailsJson,
      prevHash,
      hash: GENESIS_HASH,
    };
    row.hash = chainHash(macKey, prevHash, row, e.detailsJson);
    prevHash = row.hash;
    rows[i] = row;
  }
  return rows;
}

/**
 * The batch as the JSON array `APPEND` reads. `id` (a UUID made by `prepareEvent`), `at` (ISO
 * 8601) and `seq` (digits) need no escaping; every other text goes through JSON.stringify, and
 * `details` is already canonical JSON.
 */
function eventsJson(rows: ChainedRow[]): string {
  const s = JSON.stringify;
  let out = '[';
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    out +=
      `${i ? ',' : ''}{"seq":${r.seq},"id":"${r.id}","at":"${r.at}","tenant":${s(r.tenant)},"action":${s(r.action)},` +
      `"outcome":${s(r.outcome)},"reason":${s(r.reason)},"agent":${s(r.agent)},"subject":${s(r.subject)},` +
      `"integration":${s(r.integration)},"details":${r.detailsJson},"prev_hash":"${r.prevHash.toString('hex')}",` +
      `"hash":"${r.hash.toString('hex')}"}`;
  }
  return out + ']';
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
