import pino, { Level, Logger } from 'pino';
import { tracingChannel } from 'node:diagnostics_channel';

type Symbols = typeof pino.symbols & { msgPrefixSym?: symbol };
const S = pino.symbols as Symbols;
const KEYS = ['reqId', 'method', 'route', 'status', 'responseTime'] as const;
// pino's diagnostics of its serialisation: with a subscriber, lines go through pino so it sees them.
const asJsonTrace = tracingChannel('pino_asJson');

/**
 * Writes request lines with the bytes pino would write for `logger[level](fields, msg)`, built
 * from the logger's own parts (level label, time, bindings, line end, stream) without pino's
 * generic path: no merge object walked key by key, no formatter or serializer lookups, no
 * `Date` per line. It does so only when nothing could make pino's output differ — no mixin,
 * nested key, message prefix, stream hook or metadata stream, no serializer or stringifier for
 * these keys, a `log` formatter that hands such a line back untouched (the vault's scrubs nothing
 * here: no key is secret-named, no value an object), the standard ISO time, and values that need
 * no JSON escaping; otherwise pino writes the line. The vault's `logMethod` hook is skipped: it
 * only changes calls that log an error. Checked byte for byte against pino in
 * request-line.spec.ts.
 */
export class RequestLineWriter {
  private readonly direct: boolean;
  private lastMs = -1;
  private lastTime = '';

  constructor(private readonly logger: Logger) {
    this.direct = canWriteDirectly(logger);
  }

  /**
   * `logger[level]({ reqId, method, route, status, responseTime }, msg)`: `reqId` first, where a
   * child logger's binding would be (positional, so the usual line makes no object).
   */
  write(level: Level, reqId: string, method: string | undefined, route: string, status: number, responseTime: number, msg: string): void {
    const l = this.logger as unknown as Record<symbol, unknown>;
    const stream = l[S.streamSym] as { write(s: string): void; [k: symbol]: unknown };
    if (
      !this.direct ||
      stream[S.needsMetadataGsym] === true ||
      asJsonTrace.hasSubscribers ||
      !plain(reqId) ||
      !plain(method) ||
      !plain(route) ||
      !plain(msg)
    ) {
      this.logger[level]({ reqId, method, route, status, responseTime }, msg);
      return;
    }
    const line =
      (l[S.lsCacheSym] as Record<string, string>)[this.logger.levels.values[level]] +
      this.time() +
      (l[S.chindingsSym] as string) +
      ',"reqId":"' +
      reqId +
      '","method":"' +
      method +
      '","route":"' +
      route +
      '","status":' +
      json(status) +
      ',"responseTime":' +
      json(responseTime) +
      ',"msg":"' +
      msg +
      '"' +
      (l[S.endSym] as string);
    stream.write(line);
  }

  /** pino's `isoTime`, made once per millisecond instead of once per line. */
  private time(): string {
    const now = Date.now();
    if (now !== this.lastMs) {
      this.lastMs = now;
      this.lastTime = `,"time":"${new Date(now).toISOString()}"`;
    }
    return this.lastTime;
  }
}

/** Strings pino writes as `"` + the string + `"` (and JSON.stringify would too): printable ASCII without `"` or `\`. */
function plain(s: string | undefined): s is string {
  if (typeof s !== 'string' || s.length > 100) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c > 126 || c === 34 || c === 92) return false;
  }
  return true;
}

/** A number as pino writes it in a line (non-finite as null). */
function json(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}

function canWriteDirectly(logger: Logger): boolean {
  const l = logger as unknown as Record<symbol, unknown>;
  if (S.msgPrefixSym === undefined || l[S.timeSym] !== pino.stdTimeFunctions.isoTime) return false;
  if (l[S.mixinSym] || l[S.nestedKeySym] || l[S.msgPrefixSym] !== undefined || l[S.messageKeySym] !== 'msg') return false;
  if ((l[S.hooksSym] as { streamWrite?: unknown } | undefined)?.streamWrite) return false;
  const serializers = (l[S.serializersSym] ?? {}) as Record<string, unknown>;
  const stringifiers = (l[S.stringifiersSym] ?? {}) as Record<string | symbol, unknown>;
  if (stringifiers[S.wildcardFirstSym] || serializers.msg || stringifiers.msg) return false;
  for (const k of KEYS) if (serializers[k] || stringifiers[k]) return false;
  const format = (l[S.formattersSym] as { log?: (o: object) => object } | undefined)?.log;
  if (format) {
    const sample = { reqId: 'r', method: 'GET', route: '/', status: 200, responseTime: 1 };
    if (format(sample) !== sample) return false;
  }
  return true;
}
