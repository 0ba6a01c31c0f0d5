/**
 * Sums a `.heapprofile` (bench/release/heap-sample.js) by allocating function, and by package or
 * source directory: `node -r ./test/support/register-ts.js bench/release/heap-summary.ts <file> [requests]`.
 * With the number of requests answered while sampling, the figures are bytes per request.
 */
import { readFileSync } from 'node:fs';

interface Node {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: Node[];
}

const [file, requestsArg] = process.argv.slice(2);
const requests = Number(requestsArg ?? 1);
const profile = JSON.parse(readFileSync(file, 'utf8')) as { head: Node };
const byFunction = new Map<string, number>();
const byPlace = new Map<string, number>();
let total = 0;
const place = (url: string) => {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const src = /\/((?:apps|libs)\/[^/]+(?:\/[^/]+)?)\//.exec(url);
  return src ? src[1] : url.replace(/^.*\//, '') || '(native)';
};
const name = (n: Node) =>
  `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*?(node_modules|apps|libs)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;
// Built-ins (sort, replace, Uint8Array…) have no URL: they are named with their caller.
const walk = (n: Node, caller = ''): void => {
  const native = !n.callFrame.url;
  if (n.selfSize) {
    const f = native && caller ? `${name(n)} ← ${caller}` : name(n);
    byFunction.set(f, (byFunction.get(f) ?? 0) + n.selfSize);
    const p = place(n.callFrame.url);
    byPlace.set(p, (byPlace.get(p) ?? 0) + n.selfSize);
    total += n.selfSize;
  }
  for (const c of n.children) walk(c, native ? caller : name(n));
};
walk(profile.head);
const kb = (b: number) => (b / 1024 / requests).toFixed(2);
const top = (m: Map<string, number>, n: number) =>
  [...m.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${kb(v).padStart(8)} KB  ${k}`)
    .join('\n');
process.stdout.write(
  `total ${kb(total)} KB${requests > 1 ? ' per request' : ''}\n\nby place:\n${top(byPlace, 25)}\n\nby function:\n${top(byFunction, 45)}\n`,
);
