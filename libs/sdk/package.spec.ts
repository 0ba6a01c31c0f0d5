import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The SDK is published alone: its package must stand on its own. */
describe('@credential-vault/sdk package', () => {
  const pkg = JSON.parse(readFileSync(join(__dirname, 'package.json'), 'utf8'));

  it('points main/types at its own build output, needs Node ≥ 20.19 and nothing at run time', () => {
    expect(pkg).toMatchObject({
      name: '@credential-vault/sdk',
      version: '0.1.0',
      main: 'dist/index.js',
      types: 'dist/index.d.ts',
      engines: { node: '>=20.19' },
    });
    expect(pkg.private).toBeUndefined();
    expect(Object.keys(pkg.dependencies ?? {})).toEqual([]);
    expect(pkg.peerDependencies).toBeUndefined();
  });

  it('imports only its own files and node: built-ins, never the rest of the repository', () => {
    const sources = readdirSync(__dirname).filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'));
    expect(sources).toContain('index.ts');
    for (const file of sources) {
      const text = readFileSync(join(__dirname, file), 'utf8');
      const specifiers = [...text.matchAll(/(?:from|import\()\s*['"]([^'"]+)['"]/g)].map((m) => m[1]);
      for (const s of specifiers) expect({ file, s, ok: /^node:/.test(s) || /^\.\/[\w-]+$/.test(s) }).toEqual({ file, s, ok: true });
    }
  });
});
