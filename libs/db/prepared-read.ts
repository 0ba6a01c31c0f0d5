import * as pg from 'pg';
import type { Connection, Pool, PoolClient } from 'pg';

type Parser = (text: string) => unknown;
type Callback = (err: Error | null, rows?: unknown[][]) => void;

/** pg's own mapping of JS values to wire parameters, the one `client.query` uses. */
const prepareValue = (pg as unknown as { utils: { prepareValue(v: unknown): Buffer | string | null } }).utils.prepareValue;

/** pg's bookkeeping of the named statements a connection has parsed (the same maps `pg.Query` reads and writes). */
interface StatementMaps {
  parsedStatements: Record<string, string>;
  submittedNamedStatements: Record<string, string>;
}

/**
 * A read-only named statement for a hot path, run on the pool without `pg.Query`: parsed once per
 * connection (pg's own bookkeeping, so `pg.Query` with the same name and text shares it), and then
 * Bind/Execute/Sync only — no Describe per call, so no row description, `Result` or row parsers
 * are built per query. The column types are fixed here instead: checked against the statement's
 * description the first time a connection parses it (a mismatch fails the query, never returns
 * misparsed values), and each text value is parsed with pg's parser for its type (pg's type
 * overrides included). Rows come back as arrays in column order. Errors are pg's own; the client
 * is released with the error as `pool.query` releases it; `query_timeout` and `DeadlineClient`
 * apply as to any query.
 */
export class PreparedRead {
  private parsers: Parser[] | undefined;

  constructor(
    readonly name: string,
    readonly text: string,
    /** The type OID of each result column, in order. */
    private readonly columnTypes: readonly number[],
  ) {}

  run(pool: Pool, values: unknown[]): Promise<unknown[][]> {
    const parsers = (this.parsers ??= this.columnTypes.map((oid) => pg.types.getTypeParser(oid, 'text') as Parser));
    return new Promise((resolve, reject) => {
      pool.connect((err, client) => {
        if (err || !client) return reject(err ?? new Error('no database connection'));
        const run = new PreparedRun(this, parsers, values, client, resolve, reject);
        // `on`, not `once` (a wrapper and a bound function per query): `finish` removes it, and runs once.
        client.on('error', run.onClientError);
        try {
          // Given a Submittable, pg returns it (not a promise); `callback` (wrapped by its read timeout) answers.
          void client.query(run as never);
        } catch (e) {
          run.finish(e as Error);
        }
      });
    });
  }

  /** Whether a result column description matches the declared types (checked once per connection). */
  matches(fields: ReadonlyArray<{ dataTypeID: number }>): boolean {
    return fields.length === this.columnTypes.length && fields.every((f, i) => f.dataTypeID === this.columnTypes[i]);
  }
}

/** One execution: pg's Submittable interface (the methods `pg.Client` calls on its active query). */
class PreparedRun {
  /** Set by `client.query` (wrapped by its read timeout); read when answering, as pg.Query does. */
  callback: Callback;
  readonly name: string;
  readonly text: string;
  /** Made at the first row, as a list of one (an empty list grows to sixteen slots at its first push). */
  private rows: unknown[][] | undefined;
  private mismatch: Error | undefined;
  private released = false;

  constructor(
    private readonly statement: PreparedRead,
    private readonly parsers: Parser[],
    private readonly values: unknown[],
    private readonly client: PoolClient,
    private readonly resolve: (rows: unknown[][]) => void,
    private readonly reject: (err: Error) => void,
  ) {
    this.name = statement.name;
    this.text = statement.text;
    this.callback = (err, rows) => this.finish(err, rows);
  }

  /** A socket error while the client is checked out (pg also fails the active query with it). */
  readonly onClientError = (err: Error): void => this.finish(err);

  finish(err: Error | null, rows?: unknown[][]): void {
    if (this.released) return;
    this.released = true;
    this.client.removeListener('error', this.onClientError);
    this.client.release(err ?? undefined);
    if (err) this.reject(err);
    else this.resolve(rows!);
  }

  /** pg's contract: an Error returned (not thrown) fails this query alone, as `pg.Query` does. */
  submit(connection: Connection): Error | null {
    const maps = connection as unknown as StatementMaps;
    const known = maps.parsedStatements[this.name] ?? maps.submittedNamedStatements[this.name];
    if (known !== undefined && known !== this.text) return new Error(`prepared statement '${this.name}' was parsed with a different text`);
    const stream = connection.stream as { cork?(): void; uncork?(): void };
    stream.cork?.();
    try {
      if (known === undefined) {
        connection.parse({ name: this.name, text: this.text, types: [] }, true);
        maps.submittedNamedStatements[this.name] = this.text;
        // Once per connection: the statement's columns, checked against the declared types.
        connection.describe({ type: 'S', name: this.name }, true);
      }
      connection.bind({ portal: '', statement: this.name, values: this.values as never, valueMapper: prepareValue }, true);
      connection.execute({ portal: '' }, true);
      connection.sync();
    } finally {
      stream.uncork?.();
    }
    return null;
  }

  handleRowDescription(msg: { fields: Array<{ dataTypeID: number }> }): void {
    if (!this.statement.matches(msg.fields)) {
      this.mismatch = new Error(`prepared statement '${this.name}' returns columns of other types than declared`);
    }
  }

  handleDataRow(msg: { fields: Array<string | null> }): void {
    const fields = msg.fields;
    const row = new Array<unknown>(fields.length);
    for (let i = 0; i < fields.length; i++) {
      const v = fields[i];
      row[i] = v === null ? null : this.parsers[i](v);
    }
    if (this.rows) this.rows.push(row);
    else this.rows = [row];
  }

  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyInResponse(connection: Connection & { sendCopyFail(msg: string): void }): void {
    connection.sendCopyFail('COPY is not expected here');
  }
  handleCopyData(): void {}

  handleError(err: Error): void {
    this.callback(err);
  }

  handleReadyForQuery(): void {
    // A mismatch is found before any row is used: nothing misparsed leaves here.
    if (this.mismatch) this.callback(this.mismatch);
    else this.callback(null, this.rows ?? []);
  }
}
