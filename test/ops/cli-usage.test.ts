import { runCli } from '../keys/support';

/**
 * Every CLI command answers `--help` with its usage (exit 0); an unknown option, a missing or
 * ambiguous value, or a bad `--ttl` gives one line naming the problem, then the usage, exit 64
 * (EX_USAGE) — never a stack trace. None of these reach the database or the configuration.
 */
describe('CLI usage: --help and usage errors', () => {
  const env = { VAULT_DEV_ISSUER: 'false' };

  it.each([
    [['--help'], /^usage: npm run cli -- <command>/],
    [['dev-token', '--help'], /^usage: npm run cli -- dev-token\n {2}dev-token \[--admin\]/],
    [['migrate', '--help'], /^usage: npm run cli -- migrate\n {2}migrate/],
    [['audit', '--help'], /^usage: npm run cli -- audit verify\|retain\n {2}audit verify/],
    [['audit', 'verify', '--help'], /^usage: npm run cli -- audit verify\n/],
    [['audit', 'retain', '--help'], /^usage: npm run cli -- audit retain\n/],
    [['keys', '--help'], /^usage: npm run cli -- keys <command>\n {2}keys status/],
    [['keys', 'rotate', '-h'], /^usage: npm run cli -- keys <command>\n/],
  ])('%j prints its usage on stdout, exit 0', async (args, usage) => {
    const r = await runCli(args, env);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(usage);
  });

  it.each([
    [
      ['dev-token', '--ttl', '-5'],
      "error: Option '--ttl' argument is ambiguous. Did you forget to specify the option " +
        "argument for '--ttl'? To specify an option argument starting with a dash use '--ttl=-XYZ'.",
    ],
    [['dev-token', '--ttl=-5'], "error: --ttl must be a positive whole number of seconds, not '-5'"],
    [['dev-token', '--ttl', 'soon'], "error: --ttl must be a positive whole number of seconds, not 'soon'"],
    [['dev-token', '--bogus'], "error: Unknown option '--bogus'."],
    [['dev-token', '--tenant'], "error: Option '--tenant <value>' argument missing"],
    [['migrate', '--force'], "error: Unknown option '--force'."],
    [['audit', 'verify', '--anchor', 'x'], "error: Unknown option '--anchor'."],
    [['audit', 'verify', '--before', 'x'], "error: Unknown option '--before'."],
    [['audit', 'retain', '--anchors'], "error: Option '--anchors <value>' argument missing"],
    [['keys', 'rotate', '--target', 'kek', '--tenants', 'a'], "error: Unknown option '--tenants'."],
    [['keys', 'rotate'], 'error: --target must be kek, tenant or signing'],
    [['keys', 'retire', '--version', '2'], 'error: --tenant is required'],
    [['keys', 'spin'], "error: unknown command 'keys spin'"],
    [['frobnicate'], "error: unknown command 'frobnicate'"],
  ])('%j: one line naming the problem, then the usage; exit 64', async (args, line) => {
    const r = await runCli(args, env);
    expect(r.code).toBe(64);
    expect(r.stdout).toBe('');
    const [first, second] = r.stderr.split('\n');
    expect(first.startsWith(line)).toBe(true);
    expect(second).toMatch(/^usage: npm run cli -- /);
    expect(r.stderr).not.toMatch(/TypeError|\n\s+at /);
  });
});
