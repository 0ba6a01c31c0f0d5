import type { LoggerService } from '@nestjs/common';
import { inspect } from 'node:util';

type Level = 'log' | 'error' | 'warn' | 'debug' | 'verbose' | 'fatal';
type Write = typeof process.stdout.write;
const CONSOLE_METHODS = ['log', 'info', 'warn', 'error', 'debug', 'trace', 'dir'] as const;

/**
 * Everything the vault writes, for leak tests: every Nest log line (as a `LoggerService`
 * passed to `startTestVault`), and, while `start()`ed, every write to stdout/stderr and every
 * `console.*` call. Arguments are rendered the way a careless logger would render them
 * (`util.inspect`, deep, hidden properties and `cause` chains included), so a secret inside a
 * logged object is found even if a real transport would have printed it differently.
 *
 * @example
 *   const logs = new LogCapture();
 *   const v = await startTestVault({}, { logger: logs });
 *   logs.start();
 *   // ... drive the vault ...
 *   logs.stop();
 *   expect(logs.lines.filter((l) => l.includes(canary))).toEqual([]);
 */
export class LogCapture implements LoggerService {
  readonly lines: string[] = [];
  private restore: Array<() => void> = [];

  log(message: unknown, ...params: unknown[]): void {
    this.push('log', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.push('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.push('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.push('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.push('verbose', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.push('fatal', message, params);
  }

  /**
   * Also captures process.stdout/stderr writes and console calls. They still go through,
   * except console calls when `quiet` (for tests that log on purpose).
   */
  start(opts: { quiet?: boolean } = {}): void {
    if (this.restore.length) return;
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write;
      const self = this;
      stream.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
        self.lines.push(
          `${stream === process.stdout ? 'stdout' : 'stderr'} ` +
            `${typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8')}`,
        );
        return (original as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
      } as Write;
      this.restore.push(() => (stream.write = original));
    }
    const c = console as unknown as Record<string, (...a: unknown[]) => void>;
    for (const name of CONSOLE_METHODS) {
      const original = c[name];
      c[name] = (...args: unknown[]) => {
        this.lines.push(`console.${name} ${args.map(render).join(' ')}`);
        if (!opts.quiet) original.apply(console, args);
      };
      this.restore.push(() => (c[name] = original));
    }
  }

  stop(): void {
    for (const undo of this.restore.reverse()) undo();
    this.restore = [];
  }

  /** Lines containing any of the needles (case-insensitive). */
  find(needles: readonly string[]): string[] {
    const lower = needles.map((n) => n.toLowerCase());
    return this.lines.filter((l) => lower.some((n) => l.toLowerCase().includes(n)));
  }

  private push(level: Level, message: unknown, params: unknown[]): void {
    this.lines.push(`nest.${level} ${[message, ...params].map(render).join(' ')}`);
  }
}

function render(value: unknown): string {
  if (typeof value === 'string') return value;
  return inspect(value, { depth: 12, showHidden: true, breakLength: Infinity, maxArrayLength: Infinity, maxStringLength: Infinity });
}
