/**
 * Compiles the sources the release benchmark runs (apps/, libs/, migrations/, bench/floor/) to
 * plain JavaScript in a temporary directory, as `npm run build` would, so that the measured
 * processes start and run like production: no per-file compilation at start (cold start), no
 * inline source maps held in memory (peak RSS). `dist/` is left alone (it is shared).
 */
import { transformSync } from '@swc/core';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const SOURCES = ['apps', 'libs', 'migrations', 'bench/floor'];

/** Returns the output directory; `<out>/apps/vault/main.js` is the API's entry point. */
export function compileForBench(): { dir: string; files: number } {
  const { $schema: _schema, sourceMaps: _maps, ...swcrc } = JSON.parse(readFileSync(join(ROOT, '.swcrc'), 'utf8'));
  const dir = mkdtempSync(join(tmpdir(), 'vault-bench-js-'));
  let files = 0;
  for (const source of SOURCES) {
    for (const file of walk(join(ROOT, source))) {
      const { code } = transformSync(readFileSync(file, 'utf8'), {
        ...swcrc,
        filename: file,
        swcrc: false,
        configFile: false,
        sourceMaps: false,
      });
      const out = join(dir, relative(ROOT, file)).replace(/\.ts$/, '.js');
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, code);
      files++;
    }
  }
  // Packages resolve from the compiled tree as they would from the repository.
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return { dir, files };
}

function* walk(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) yield* walk(path);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts') && !e.name.endsWith('.d.ts')) yield path;
  }
}
