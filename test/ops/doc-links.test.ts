import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { CONFIG_ENV_NAMES } from '../../libs/config';
import { ErrorCodes } from '../../libs/kernel';
import { VaultMetrics } from '../../libs/observability';
import { APPROVAL_EVENT_TYPES, AUDIT_ANCHOR_EVENT, CONNECTION_EVENT_TYPES, TEST_EVENT } from '../../libs/webhooks';
import { startTestVault } from '../support/vault';

/**
 * The project's own documentation (issue 20 item 6): README.md and docs/*.md link only inside the
 * repository (a clone has nothing beside it), every relative link resolves to a file and, with a
 * `#fragment`, to a heading of that file; and the reference pages list what the code defines
 * (configuration variables, error codes, webhook events, metric names), so they cannot drift.
 */

const ROOT = resolve(__dirname, '../..');
const DOCS = join(ROOT, 'docs');
const pages = [
  'README.md',
  ...readdirSync(DOCS)
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', f)),
];

/** Markdown without fenced code blocks and inline code spans (links there are examples, not links). */
function prose(text: string): string {
  return text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '``');
}

/** Inline links and images `[text](target "title")`; the target as written. */
function links(text: string): string[] {
  return [...prose(text).matchAll(/!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]);
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(text: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  for (const m of text.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = m[1]
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .trim()
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

describe('documentation links', () => {
  it('finds the pages and their links', () => {
    expect(pages).toEqual(
      expect.arrayContaining([
        'README.md',
        join('docs', 'README.md'),
        join('docs', 'api.md'),
        join('docs', 'configuration.md'),
        join('docs', 'operations.md'),
      ]),
    );
    expect(links(readFileSync(join(ROOT, 'README.md'), 'utf8')).length).toBeGreaterThan(5);
  });

  it('docs/README.md (the index) links every page in docs/, and README.md links the index', () => {
    const index = links(readFileSync(join(DOCS, 'README.md'), 'utf8')).map((t) => t.split('#')[0]);
    const unlisted = readdirSync(DOCS).filter((f) => f.endsWith('.md') && f !== 'README.md' && !index.includes(f));
    expect(unlisted).toEqual([]);
    expect(links(readFileSync(join(ROOT, 'README.md'), 'utf8'))).toContain('docs/README.md');
  });

  it.each(pages)('%s: every relative link resolves inside the repository, fragments to headings', (page) => {
    const text = readFileSync(join(ROOT, page), 'utf8');
    const problems: string[] = [];
    for (const target of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) {
        if (!/^(https?|mailto):/i.test(target)) problems.push(`${target}: unexpected scheme`);
        continue;
      }
      const [pathPart, fragment] = target.split('#', 2) as [string, string | undefined];
      const path = decodeURIComponent(pathPart);
      if (path.startsWith('/')) {
        problems.push(`${target}: absolute path (breaks outside the repository's root)`);
        continue;
      }
      const file = path ? resolve(dirname(join(ROOT, page)), path) : join(ROOT, page);
      const rel = relative(ROOT, file);
      if (rel === '..' || rel.startsWith(`..${sep}`)) {
        problems.push(`${target}: points outside the repository`);
        continue;
      }
      if (!existsSync(file)) {
        problems.push(`${target}: ${rel} does not exist`);
        continue;
      }
      if (fragment !== undefined) {
        if (!statSync(file).isFile() || !file.endsWith('.md')) problems.push(`${target}: a fragment on a file that is not Markdown`);
        else if (!anchors(readFileSync(file, 'utf8')).has(fragment.toLowerCase()))
          problems.push(`${target}: no heading #${fragment} in ${rel}`);
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('reference pages list what the code defines', () => {
  const doc = (name: string) => readFileSync(join(DOCS, name), 'utf8');
  const missing = (text: string, names: readonly string[]) => names.filter((n) => !text.includes(`\`${n}\``));

  it('configuration.md: every environment variable', () => {
    expect(CONFIG_ENV_NAMES.length).toBeGreaterThan(50);
    expect(missing(doc('configuration.md'), CONFIG_ENV_NAMES)).toEqual([]);
  });

  it('api.md: every error code with its status', () => {
    const text = doc('api.md');
    const rows = Object.entries(ErrorCodes).filter(([code, status]) => !new RegExp(`^\\| \`${code}\` \\| ${status} \\|`, 'm').test(text));
    expect(rows).toEqual([]);
  });

  it('api.md: every token-endpoint error with its status', () => {
    const source = readFileSync(join(ROOT, 'libs/token-service/oauth-error.ts'), 'utf8');
    const table = /const STATUS[^{]*\{([^}]*)\}/.exec(source)![1];
    const statuses = [...table.matchAll(/([a-z_]+): (\d{3})/g)].map((m) => [m[1], m[2]]);
    expect(statuses.length).toBeGreaterThan(5);
    const text = doc('api.md');
    expect(statuses.filter(([code, status]) => !new RegExp(`^\\| \`${code}\` \\| ${status} \\|`, 'm').test(text))).toEqual([]);
  });

  it('api.md: every webhook event type', () => {
    expect(missing(doc('api.md'), [...CONNECTION_EVENT_TYPES, ...APPROVAL_EVENT_TYPES, TEST_EVENT, AUDIT_ANCHOR_EVENT])).toEqual([]);
  });

  it('api.md: every metric the vault exports', async () => {
    const metrics = new VaultMetrics(
      {
        keyCache: () => ({ hits: 0, misses: 0 }),
        audit: () => ({ flushes: 0, committedEvents: 0, failedFlushes: 0, timeouts: 0, queued: 0 }),
        pool: () => ({ total: 0, idle: 0, waiting: 0, max: 1 }),
        refreshLag: async () => 0,
        webhookLag: async () => 0,
      },
      { processMetrics: false },
    );
    const names = [...(await metrics.text()).matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
    expect(names.length).toBeGreaterThan(20);
    expect(missing(doc('api.md'), names)).toEqual([]);
  });

  it('api.md: every endpoint of the generated OpenAPI document', async () => {
    const v = await startTestVault();
    try {
      const res = await v.call('GET', '/docs/openapi.json');
      expect(res.status).toBe(200);
      const endpoints = Object.entries(res.body.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
        Object.keys(ops)
          .filter((m) => ['get', 'put', 'post', 'patch', 'delete'].includes(m))
          .map((m) => `${m.toUpperCase()} ${path}`),
      );
      expect(endpoints.length).toBeGreaterThan(40);
      expect(missing(doc('api.md'), endpoints)).toEqual([]);
    } finally {
      await v.close();
    }
  });
});
