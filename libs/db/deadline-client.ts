import { Client, ClientConfig } from 'pg';

/** pg's own message when `query_timeout` passes with no answer from the server. */
export const QUERY_READ_TIMEOUT = 'Query read timeout';

type AnyCallback = (err: unknown, res?: unknown) => void;

/**
 * The pool's client class. pg's `query_timeout` fails a query that gets no answer in time,
 * but leaves it active on the connection: the pool would hand that connection out again and
 * every later query on it would queue behind the dead one. This client drops its connection
 * instead, so the pool replaces it (a hung or black-holed database, SECURITY 35).
 */
export class DeadlineClient extends Client {
  constructor(config?: string | ClientConfig) {
    super(config);
    const query = this.query.bind(this) as (...args: unknown[]) => unknown;
    const drop = (err: unknown) => {
      // end() marks the client as ending at once (so the pool removes it when it is released,
      // before any other caller can get it) and, with a query still active, destroys the socket.
      if ((err as { message?: unknown } | null)?.message === QUERY_READ_TIMEOUT) this.end().catch(() => undefined);
    };
    (this as unknown as { query: unknown }).query = (...args: unknown[]): unknown => {
      const last = args[args.length - 1];
      if (typeof last === 'function') {
        args[args.length - 1] = (err: unknown, res?: unknown) => {
          drop(err);
          (last as AnyCallback)(err, res);
        };
        return query(...args);
      }
      const result = query(...args);
      if (result instanceof Promise) {
        return result.catch((err: unknown) => {
          drop(err);
          throw err;
        });
      }
      return result;
    };
  }
}
