import { Writable } from 'node:stream';

/** A pino destination that keeps every JSON line (for the log tests). */
export class JsonLines extends Writable {
  readonly lines: string[] = [];

  constructor() {
    super({
      write: (chunk: Buffer | string, _enc, done) => {
        for (const line of String(chunk).split('\n')) if (line.trim()) this.lines.push(line);
        done();
      },
    });
  }

  records(): Array<Record<string, unknown>> {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

/** Every form a secret takes when something serialises it carelessly (text, hex, URL-encoded, base64 at any offset), lower-cased. */
export function secretForms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const hex = bytes.toString('hex');
  const out = new Set([secret, hex, hex.match(/../g)!.join(' '), encodeURIComponent(secret)]);
  // base64 of the secret inside a longer value depends on its offset mod 3: drop the groups it shares.
  for (let k = 0; k < 3; k++) {
    const shifted = Buffer.concat([Buffer.alloc(k), bytes]);
    for (const enc of ['base64', 'base64url'] as const) out.add(shifted.toString(enc).slice(4, -4));
  }
  return [...out].map((f) => f.toLowerCase());
}

/** The lines containing any of the needles (case-insensitive). */
export function linesWith(lines: readonly string[], needles: readonly string[]): string[] {
  return lines.filter((l) => {
    const lower = l.toLowerCase();
    return needles.some((n) => lower.includes(n));
  });
}

/** Prometheus text exposition → `name{a="x",b="y"}` (labels sorted) → value. */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels = m[2]
      ? [...m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)]
          .map((l) => `${l[1]}="${l[2]}"`)
          .sort()
          .join(',')
      : '';
    out.set(labels ? `${m[1]}{${labels}}` : m[1], Number(m[3]));
  }
  return out;
}

/** A sample's value, 0 when absent (a counter that never moved has no labelled series yet). */
export function sample(metrics: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  const l = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',');
  return metrics.get(l ? `${name}{${l}}` : name) ?? 0;
}
