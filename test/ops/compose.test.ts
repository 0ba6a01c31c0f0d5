import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { CONFIG_ENV_NAMES, loadConfig } from '../../libs/config';

/**
 * No Docker engine runs here: the compose file and the Dockerfile are checked by structure.
 * Compose: the four services with health checks, start order by `depends_on` conditions, the
 * API's port, and an environment the config schema accepts (every name known, the whole of it
 * a valid production configuration). Dockerfile: multi-stage on Node 22, production
 * dependencies only in the final image, a non-root user and a HEALTHCHECK.
 */
const ROOT = join(__dirname, '..', '..');

type Service = {
  image?: string;
  build?: unknown;
  command?: string[];
  ports?: string[];
  environment?: Record<string, string | number | boolean>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] | string; interval?: string; retries?: number };
};

describe('docker-compose.yml', () => {
  // Compose resolves YAML merge keys (`<<: *vault-env`), so the parse does too.
  const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, Service>;
    volumes?: Record<string, unknown>;
  };
  const s = compose.services;

  it('runs postgres, Lowkey Vault, the API and the worker, each with a health check', () => {
    expect(Object.keys(s)).toEqual(expect.arrayContaining(['postgres', 'lowkey-vault', 'vault', 'worker']));
    expect(s.postgres.image).toMatch(/^postgres:\d+/);
    expect(s['lowkey-vault'].image).toMatch(/^nagyesta\/lowkey-vault:\d/);
    expect(s.vault.build).toBeDefined();
    expect(s.worker.build).toBeDefined();
    expect(s.worker.command).toEqual(['node', 'dist/apps/worker/main.js']);
    for (const name of ['postgres', 'lowkey-vault', 'vault', 'worker']) {
      const test = s[name].healthcheck?.test;
      expect([name, Array.isArray(test) ? test[0] : test]).toEqual([name, expect.stringMatching(/^(CMD|CMD-SHELL)$/)]);
    }
    expect([s.vault.healthcheck!.test].flat().join(' ')).toContain('/readyz');
  });

  it('starts each service after what it needs is healthy (or done)', () => {
    const conditions = (name: string) => Object.fromEntries(Object.entries(s[name].depends_on ?? {}).map(([k, v]) => [k, v.condition]));
    expect(conditions('vault')).toMatchObject({ postgres: 'service_healthy' });
    expect(conditions('worker')).toMatchObject({ postgres: 'service_healthy', vault: 'service_healthy' });
    // The KEK and Lowkey Vault's CA certificate exist before the API starts.
    const kvDependency = Object.entries(conditions('vault')).find(([k]) => k !== 'postgres')!;
    expect(kvDependency[1]).toMatch(/^service_(completed_successfully|healthy)$/);
    const init = s[kvDependency[0]];
    expect(Object.fromEntries(Object.entries(init.depends_on ?? {}).map(([k, v]) => [k, v.condition]))).toMatchObject({
      'lowkey-vault': 'service_healthy',
    });
    for (const svc of Object.values(s)) for (const dep of Object.keys(svc.depends_on ?? {})) expect(Object.keys(s)).toContain(dep);
  });

  it('publishes the API on the port it listens on', () => {
    const env = s.vault.environment!;
    expect(s.vault.ports).toEqual([`8080:${env.PORT}`]);
    expect(String(env.VAULT_PUBLIC_URL)).toBe('http://localhost:8080');
  });

  it('sets only variables the config schema knows, and they make a valid production configuration', () => {
    for (const name of ['vault', 'worker']) {
      const env = s[name].environment!;
      const unknown = Object.keys(env).filter((k) => !CONFIG_ENV_NAMES.includes(k));
      expect([name, unknown]).toEqual([name, []]);
    }
    // `${VAR:-default}` as compose would substitute it with VAR unset.
    const env = Object.fromEntries(
      Object.entries(s.vault.environment!).map(([k, v]) => [k, String(v).replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')]),
    );
    const config = loadConfig(env);
    expect(config.env).toBe('production');
    expect(config.keyProvider).toMatchObject({
      kind: 'azure',
      vaultUrl: 'https://lowkey-vault:8443',
      keyName: 'kek',
      caFile: '/certs/lowkey-vault.pem',
      disableChallengeResourceVerification: true,
    });
    expect(config.database.url).toMatch(/@postgres:5432\//);
    // The CA file is the one keyvault-init fetched into the shared volume.
    const certVolume = (svc: Service & { volumes?: string[] }) => (svc.volumes ?? []).find((v) => v.includes(':/certs'));
    expect(certVolume(s.vault as never)).toMatch(/^kvcerts:\/certs/);
    expect(certVolume(s['keyvault-init'] as never)).toMatch(/^kvcerts:\/certs/);
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  // Continuation lines joined, comments dropped: one instruction per entry.
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: string[][] = [];
  for (const i of instructions) {
    if (/^FROM\s/i.test(i)) stages.push([]);
    stages[stages.length - 1]?.push(i);
  }
  const final = stages[stages.length - 1];

  it('is multi-stage on Node 22', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage[0]).toMatch(/^FROM node:22[.\-\w]*(\s+AS\s+\w+)?$/i);
    expect(final.some((i) => /^COPY --from=\w+/.test(i))).toBe(true);
  });

  it('installs production dependencies only in the final image, and runs as a non-root user with a HEALTHCHECK', () => {
    const installs = final.filter((i) => /npm (ci|install)/.test(i));
    expect(installs.length).toBeGreaterThan(0);
    for (const i of installs) expect(i).toMatch(/npm ci --omit=dev/);
    const user = final.filter((i) => /^USER\s/.test(i)).pop();
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^USER\s+(root|0)(:|$)/);
    // The user is set after the last RUN, so nothing the process runs as is root.
    expect(final.indexOf(user!)).toBeGreaterThan(final.map((i) => /^RUN\s/.test(i)).lastIndexOf(true));
    const health = final.find((i) => /^HEALTHCHECK\s/.test(i));
    expect(health).toMatch(/CMD .*\/readyz/);
    expect(final.some((i) => /^ENV NODE_ENV=production/.test(i))).toBe(true);
    const cmd = final.filter((i) => /^CMD\s/.test(i)).pop();
    const argv = JSON.parse(cmd!.replace(/^CMD\s+/, '')) as string[];
    expect(argv[0]).toBe('node');
    expect(argv[argv.length - 1]).toBe('dist/apps/vault/main.js');
    for (const flag of argv.slice(1, -1)) expect(flag).toMatch(/^--[a-z-]+(=\S+)?$/);
  });

  it('starts node with heap flags node accepts (a rejected flag would stop the container at start)', () => {
    const env = final.find((i) => /^ENV NODE_OPTIONS=/.test(i));
    const nodeOptions = JSON.parse(env!.replace(/^ENV NODE_OPTIONS=/, '')) as string;
    expect(nodeOptions).toMatch(/--max-old-space-size=\d+/);
    const argv = JSON.parse(
      final
        .filter((i) => /^CMD\s/.test(i))
        .pop()!
        .replace(/^CMD\s+/, ''),
    ) as string[];
    const run = spawnSync(
      process.execPath,
      [...argv.slice(1, -1), '-e', 'process.stdout.write(String(require("v8").getHeapStatistics().heap_size_limit))'],
      {
        env: { PATH: process.env.PATH, NODE_OPTIONS: nodeOptions },
        encoding: 'utf8',
      },
    );
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    // The old-space bound took effect (V8 adds the young generation to it).
    const limitMb = Number(run.stdout) / 2 ** 20;
    const bound = Number(/--max-old-space-size=(\d+)/.exec(nodeOptions)![1]);
    expect(limitMb).toBeGreaterThanOrEqual(bound);
    expect(limitMb).toBeLessThan(bound + 100);
  });
});
