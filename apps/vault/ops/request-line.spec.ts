import pino, { Level, Logger } from 'pino';
import { createVaultLogger } from '../../../libs/observability';
import { requestLineLogger } from './logging';
import { RequestLineWriter } from './request-line';

type Line = [level: Level, reqId: string, method: string | undefined, route: string, status: number, responseTime: number, msg: string];

const LINES: Line[] = [
  ['info', 'release-1', 'POST', '/v1/connections/:integration/token', 200, 3, 'request completed'],
  ['error', '0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9', 'PUT', '/v1/admin/connections/:integration/users/:user', 500, 0, 'request errored'],
  ['info', 'x', 'GET', '(no route)', 404, 1234567, 'request aborted'],
  ['info', 'a.b:c-d_e', 'DELETE', '/connect/:secret', 204, 12, 'request completed'],
  // Values that need escaping (or that pino and JSON.stringify escape differently) go through pino.
  ['info', 'r', 'GET', '/odd/"quoted"\\path', 200, 1, 'request completed'],
  ['info', 'r', 'GET', '/unicode/é/\u2028', 200, 1, 'request completed'],
  ['info', 'r', 'GET', '/lone/\ud800', 200, 1, 'request completed'],
  ['info', 'r', 'GET', '/control/\u0001', 200, 1, 'request completed'],
  ['info', 'r', 'GET', `/long/${'x'.repeat(120)}`, 200, 1, 'request completed'],
  ['info', 'r', undefined, '(no route)', 400, NaN, 'request errored'],
];

function capture(make: (stream: { write(s: string): void }) => Logger): { logger: Logger; out: string[] } {
  const out: string[] = [];
  return { logger: make({ write: (s: string) => out.push(s) }), out };
}

/** What pino writes for the line, both ways the vault's request logging has written it. */
function byPino(logger: Logger, out: string[], [level, reqId, method, route, status, responseTime, msg]: Line): string[] {
  const before = out.length;
  logger.child({ reqId })[level]({ method, route, status, responseTime }, msg);
  logger[level]({ reqId, method, route, status, responseTime }, msg);
  return out.slice(before);
}

describe('RequestLineWriter', () => {
  let now = Date.parse('2026-12-04T21:00:00.123Z');
  beforeEach(() => jest.spyOn(Date, 'now').mockImplementation(() => now));
  afterEach(() => jest.restoreAllMocks());

  const vaultLogger = (stream: { write(s: string): void }) =>
    requestLineLogger(createVaultLogger({ level: 'info', stream, base: { service: 'credential-vault-api' } }));

  it("writes pino's bytes for the vault's logger, for every kind of line", () => {
    const { logger, out } = capture(vaultLogger);
    const writer = new RequestLineWriter(logger);
    for (const line of LINES) {
      now += 1;
      const [child, flat] = byPino(logger, out, line);
      writer.write(...line);
      expect([line[3], out[out.length - 1]]).toEqual([line[3], child]);
      expect(flat).toBe(child);
    }
  });

  it("skips pino's generic path for the usual line, and only for it", () => {
    const { logger } = capture(vaultLogger);
    const writer = new RequestLineWriter(logger);
    const info = jest.spyOn(logger, 'info');
    writer.write(...LINES[0]);
    expect(info).not.toHaveBeenCalled();
    writer.write(...LINES[4]);
    expect(info).toHaveBeenCalledTimes(1);
  });

  it('keeps the time right across milliseconds, including several lines in one', () => {
    const { logger, out } = capture(vaultLogger);
    const writer = new RequestLineWriter(logger);
    for (const step of [0, 0, 1, 0, 999, 1000, 0]) {
      now += step;
      const [child] = byPino(logger, out, LINES[0]);
      writer.write(...LINES[0]);
      expect(out[out.length - 1]).toBe(child);
    }
  });

  it('leaves lines to pino when the logger could make them differ (mixin, metadata stream, other time)', () => {
    const loggers = [
      (stream: { write(s: string): void }) => requestLineLogger(pino({ mixin: () => ({ extra: 1 }) }, stream)),
      (stream: { write(s: string): void }) => requestLineLogger(pino({}, pino.multistream([{ stream }]))),
      (stream: { write(s: string): void }) => requestLineLogger(pino({ timestamp: pino.stdTimeFunctions.epochTime }, stream)),
      (stream: { write(s: string): void }) => requestLineLogger(pino({ msgPrefix: '[vault] ' }, stream)),
      (stream: { write(s: string): void }) => requestLineLogger(pino({ serializers: { route: () => 'hidden' } }, stream)),
    ];
    for (const make of loggers) {
      const { logger, out } = capture(make);
      const writer = new RequestLineWriter(logger);
      for (const line of LINES.slice(0, 3)) {
        // As the vault wrote it before any child existed (with a mixin, a child's line puts `reqId` elsewhere).
        const [, flat] = byPino(logger, out, line);
        writer.write(...line);
        expect(out[out.length - 1]).toBe(flat);
      }
    }
  });
});
