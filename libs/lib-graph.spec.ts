/**
 * The libs form an acyclic graph (issue 16, point 9). ESLint guards the other import boundaries
 * (eslint.config.mjs); a cycle between libs is a property of the whole graph, so it is checked
 * here, from the imports TypeScript itself finds in every file under libs/ (specs included).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import * as ts from 'typescript';

const LIBS = __dirname;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** The lib a path is in or names (`libs/<name>`, `libs/<name>/…`), or undefined outside libs/. */
function libOf(path: string): string | undefined {
  const rel = relative(LIBS, path);
  return rel === '' || rel.startsWith('..') ? undefined : rel.split(sep)[0];
}

/** lib → the other libs its files import (relative specifiers only: packages are not libs). */
export function libGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of sourceFiles(LIBS)) {
    if (dirname(file) === LIBS) continue; // this spec, in no lib
    const from = libOf(file)!;
    const edges = graph.get(from) ?? graph.set(from, new Set()).get(from)!;
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const to = libOf(resolve(dirname(file), fileName));
      if (to && to !== from) edges.add(to);
    }
  }
  return graph;
}

/** One cycle as a path `a → b → … → a`, or undefined when the graph is acyclic. */
export function findCycle(graph: Map<string, Set<string>>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'open') return [...stack.slice(stack.indexOf(node)), node];
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    stack.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

describe('lib graph', () => {
  it('finds a cycle when there is one, and none in a chain', () => {
    const g = (edges: [string, string][]) => {
      const m = new Map<string, Set<string>>();
      for (const [a, b] of edges) (m.get(a) ?? m.set(a, new Set()).get(a)!).add(b);
      return m;
    };
    expect(
      findCycle(
        g([
          ['a', 'b'],
          ['b', 'c'],
          ['c', 'a'],
        ]),
      ),
    ).toEqual(['a', 'b', 'c', 'a']);
    expect(
      findCycle(
        g([
          ['a', 'b'],
          ['b', 'c'],
          ['a', 'c'],
        ]),
      ),
    ).toBeUndefined();
  });

  it('sees the imports between libs', () => {
    const graph = libGraph();
    expect(graph.size).toBeGreaterThan(10);
    expect(graph.get('connections')).toContain('kernel');
  });

  it('has no cycle between libs', () => {
    const cycle = findCycle(libGraph());
    expect(cycle ? `lib cycle: ${cycle.join(' → ')}` : 'acyclic').toBe('acyclic');
  });
});
