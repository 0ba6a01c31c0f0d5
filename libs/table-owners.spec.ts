/**
 * Rows typed once (issue 16, point 7): a table's SQL lives in its store, and everything else calls
 * that store. Checked here from the source text of every non-spec file under libs/ and apps/: a
 * statement that names a table (`FROM`, `JOIN`, `INTO`, `UPDATE`, `TABLE` followed by its name, SQL
 * keywords in capitals as the code writes them; comments ignored) must be in that table's owner.
 * SQL with an interpolated table name (`FROM ${table}`) is allowed only in the key operations that
 * walk every sealed table. Exceptions are listed with their reason; `KNOWN` are the ones still to
 * move, and the test fails when one of them is gone, so the list only shrinks.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

const ROOT = join(__dirname, '..');

/** table → the files (relative to the repository) whose SQL may name it; a path ending in `/` is a whole lib. */
export const OWNERS: Record<string, string[]> = {
  agents: ['libs/policy/agent.store.ts'],
  policies: ['libs/policy/policy.store.ts'],
  user_agent_denies: ['libs/policy/user-agent-deny.store.ts'],
  signing_keys: ['libs/token-service/signing-key.store.ts'],
  client_assertion_jtis: ['libs/token-service/assertion-replay.store.ts'],
  webhook_endpoints: ['libs/webhooks/webhook-endpoint.store.ts'],
  webhook_outbox: ['libs/webhooks/webhook-outbox.store.ts'],
  user_logins: ['libs/users/user-login.store.ts'],
  user_login_flows: ['libs/users/user-login-flow.store.ts'],
  user_sessions: ['libs/users/user-session.store.ts'],
  key_jobs: ['libs/keys/key-job.store.ts'],
  tenant_keys: ['libs/crypto/tenant-key-store.ts'],
  system_keys: ['libs/crypto/system-key-store.ts'],
  // A tenant row is created on first write by `ensureTenant`; its key state is the tenant-key store's, its profile the profile store's.
  tenants: ['libs/crypto/tenant-key-store.ts', 'libs/db/tenants.ts', 'libs/tenants/tenant-profile.store.ts'],
  connect_sessions: ['libs/connect/connect-session.store.ts'],
  audit_anchors: ['libs/audit-anchors/anchor-store.ts'],
  // The audit log's writer (group commit on its own connection), reader and chain verifier share its tables.
  audit_events: ['libs/audit/'],
  audit_chain_head: ['libs/audit/'],
  audit_retention: ['libs/audit/'],
  connections: ['libs/connections/connection.store.ts'],
  integrations: ['libs/connections/integration.store.ts'],
  derived_tokens: ['libs/connections/derived-token.store.ts'],
  resources: ['libs/resources/resource.store.ts'],
  oauth_clients: ['libs/authorization/client-registry.ts'],
  oauth_authorization_requests: ['libs/authorization/authorization.store.ts'],
  oauth_codes: ['libs/authorization/authorization.store.ts'],
  oauth_consents: ['libs/authorization/authorization.store.ts'],
  oauth_refresh_tokens: ['libs/authorization/authorization.store.ts'],
  token_revocations: ['libs/token-service/token-revocation.store.ts'],
  token_cutoffs: ['libs/token-service/token-revocation.store.ts'],
  approvals: ['libs/approvals/approval.store.ts'],
};

/** [file, table] pairs allowed by design, with why. */
const BY_DESIGN: Array<[string, string, string]> = [
  ['libs/policy/policy-snapshots.ts', 'agents', 'the release path reads a tenant snapshot in one round trip'],
  ['libs/policy/policy-snapshots.ts', 'policies', 'the same snapshot query (rows mapped by policy-row.ts, the one policies mapper)'],
  ['libs/policy/policy-snapshots.ts', 'user_agent_denies', 'the same snapshot query'],
  ['libs/policy/policy-snapshots.ts', 'integrations', 'the same snapshot query (integration levels)'],
  ['libs/connections/connection.store.ts', 'integrations', "a connection listing joins its integration's provider"],
  ['libs/webhooks/webhook-outbox.store.ts', 'webhook_endpoints', 'an event is written only if an endpoint wants it, in the insert itself'],
];

/** [file, table] pairs that still run SQL on another store's table: to move into the store, then delete here. */
const KNOWN: Array<[string, string]> = [
  ['libs/keys/crypto-shredder.ts', 'connect_sessions'],
  ['libs/keys/crypto-shredder.ts', 'user_sessions'],
  ['libs/keys/crypto-shredder.ts', 'tenants'],
  // The OAuth half of `connections` is a second store of the table (its leases, tokens, refresh schedule).
  ['libs/connections/oauth-credential.store.ts', 'connections'],
  ['libs/connections/derived-token.store.ts', 'connections'],
  ['libs/connections/oauth-app-credentials.ts', 'integrations'],
];

/** Files whose SQL names its table through a variable: key operations over every sealed table (`SEALED_TABLES`). */
const SEALED_TABLE_WALKERS = [
  'libs/crypto/keyring.ts',
  'libs/keys/aad-reseal.ts',
  'libs/keys/aad-reseal.job.ts',
  // Deletes the tenant's rows of every table it has rows in (tables checked against the catalog by test/keys/shred-catalog.test.ts).
  'libs/keys/crypto-shredder.ts',
  'libs/keys/dek-rewrap.ts',
  'libs/keys/key-status.service.ts',
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts') ? [join(dir, e.name)] : [],
  );
}

/** The code without its comments (an example in a comment is not a query). */
export function withoutComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

/** The tables of `tables` a source text's SQL names, and whether it names one through `${…}`. */
export function tablesNamed(src: string, tables: string[]): { tables: string[]; interpolated: boolean } {
  const code = withoutComments(src);
  const named = tables.filter((t) => new RegExp(`\\b(FROM|JOIN|INTO|UPDATE|TABLE)\\s+("?vault"?\\.)?${t}\\b`).test(code));
  return { tables: named, interpolated: /\b(FROM|JOIN|INTO|UPDATE|TABLE)\s+\$\{/.test(code) };
}

function owns(file: string, table: string): boolean {
  return OWNERS[table].some((o) => (o.endsWith('/') ? file.startsWith(o) : file === o));
}

/** Every [file, table] where a file that does not own a table runs SQL on it, and the files that interpolate table names. */
function scan(): { foreign: Array<[string, string]>; interpolating: string[] } {
  const foreign: Array<[string, string]> = [];
  const interpolating: string[] = [];
  for (const path of [...sourceFiles(join(ROOT, 'libs')), ...sourceFiles(join(ROOT, 'apps'))]) {
    const file = relative(ROOT, path).split(sep).join('/');
    const found = tablesNamed(readFileSync(path, 'utf8'), Object.keys(OWNERS));
    for (const table of found.tables) if (!owns(file, table)) foreign.push([file, table]);
    if (found.interpolated) interpolating.push(file);
  }
  return { foreign, interpolating };
}

const key = ([file, table]: [string, string]) => `${file} → ${table}`;

describe('table owners', () => {
  it('sees SQL that names a table, and not a comment or a word in a sentence', () => {
    const src = [
      'await m.query(`DELETE FROM user_sessions WHERE id_hash = $1`);',
      '// await m.query(`UPDATE agents SET …`)',
      '/* INSERT INTO policies … */',
      "throw new Error('no key from agents');",
      'q(`SELECT count(*) FROM ${t}`)',
      "const url = 'http://x'; q(`UPDATE vault.key_jobs SET status = 'failed'`);",
    ].join('\n');
    expect(tablesNamed(src, ['user_sessions', 'agents', 'policies', 'key_jobs'])).toEqual({
      tables: ['user_sessions', 'key_jobs'],
      interpolated: true,
    });
  });

  it('lists owners whose SQL names their table', () => {
    const libFiles = (lib: string) => sourceFiles(join(ROOT, lib)).map((p) => readFileSync(p, 'utf8'));
    for (const [table, owners] of Object.entries(OWNERS))
      for (const o of owners) {
        const texts = o.endsWith('/') ? libFiles(o) : [readFileSync(join(ROOT, o), 'utf8')];
        expect(`${o}: ${texts.some((t) => tablesNamed(t, [table]).tables.length > 0)}`).toBe(`${o}: true`);
      }
  });

  it("runs a table's SQL only in its store", () => {
    const allowed = new Set([...BY_DESIGN.map(([f, t]) => key([f, t])), ...KNOWN.map(key)]);
    const offending = scan()
      .foreign.map(key)
      .filter((k) => !allowed.has(k));
    expect(offending).toEqual([]);
  });

  it('lists only exceptions that still exist (moving one into its store means deleting it from KNOWN)', () => {
    const foreign = new Set(scan().foreign.map(key));
    expect([...BY_DESIGN.map(([f, t]) => key([f, t])), ...KNOWN.map(key)].filter((k) => !foreign.has(k))).toEqual([]);
  });

  it('names tables through a variable only in the key operations over every sealed table', () => {
    const { interpolating } = scan();
    expect(interpolating.filter((f) => !SEALED_TABLE_WALKERS.includes(f))).toEqual([]);
    expect(SEALED_TABLE_WALKERS.filter((f) => !interpolating.includes(f))).toEqual([]);
  });
});
