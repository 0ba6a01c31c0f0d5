import * as pg from 'pg';
import type { Connection, PoolClient, Submittable } from 'pg';

/** pg's own mapping of JS values to wire parameters (arrays, Buffers, null), the one `client.query` uses. */
const prepareValue = (pg as unknown as { utils: { prepareValue(v: unknown): Buffer | string | null } }).utils.prepareValue;

/**
 * Runs one parameterised statement and then `COMMIT` in the open transaction of `client`, in one
 * round trip: both are sent before a single Sync (extended query protocol), so Postgres runs them
 * in order and answers once. If the statement fails, Postgres skips everything up to the Sync, the
 * COMMIT included: the promise rejects with the statement's error and nothing is committed (the
 * transaction is left failed; the caller rolls back or destroys the connection). Resolves only
 * once Postgres has answered `COMMIT`; a `ROLLBACK` answer (the transaction had already failed)
 * rejects. pg's `query_timeout` (and `DeadlineClient`'s drop on it) apply as to any query.
 *
 * @example
 *   await client.query('BEGIN; SELECT ... FOR UPDATE');
 *   await executeAndCommit(client, 'INSERT INTO t (a) VALUES ($1)', [a]);
 */
export function executeAndCommit(client: PoolClient, text: string, values: unknown[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const tags: string[] = [];
    // pg sets `callback` (wrapped by its read timeout) on the object; read it when answering.
    // Once: after an error Postgres still sends ReadyForQuery, which must not answer a second time.
    let answered = false;
    const answer = (err?: Error): void => {
      if (answered) return;
      answered = true;
      (statement as unknown as { callback(err?: Error): void }).callback(err);
    };
    const statement = {
      submit(connection: Connection): void {
        const stream = connection.stream as { cork?(): void; uncork?(): void };
        stream.cork?.();
        try {
          connection.parse({ name: '', text, types: [] }, true);
          connection.bind({ portal: '', statement: '', values: values as Array<string | Buffer | null>, valueMapper: prepareValue }, true);
          connection.execute({ portal: '' }, true);
          connection.parse({ name: '', text: 'COMMIT', types: [] }, true);
          connection.bind({ portal: '', statement: '', values: [] }, true);
          connection.execute({ portal: '' }, true);
          connection.sync();
        } finally {
          stream.uncork?.();
        }
      },
      handleCommandComplete(msg: { text: string }): void {
        tags.push(msg.text);
      },
      handleRowDescription(): void {},
      handleDataRow(): void {},
      handleEmptyQuery(): void {},
      handlePortalSuspended(): void {},
      handleCopyInResponse(connection: Connection & { sendCopyFail(msg: string): void }): void {
        connection.sendCopyFail('COPY is not expected here');
      },
      handleCopyData(): void {},
      handleError(err: Error): void {
        answer(err);
      },
      handleReadyForQuery(): void {
        answer(tags.length === 2 && tags[1] === 'COMMIT' ? undefined : new Error('the transaction was not committed'));
      },
    } satisfies Submittable & Record<string, unknown>;
    // Not awaited: given a Submittable, pg returns it (not a promise); the callback above and
    // handleError/handleReadyForQuery settle the promise this function returns.
    void client.query(statement as never, ((err?: Error) => (err ? reject(err) : resolve())) as never);
  });
}
