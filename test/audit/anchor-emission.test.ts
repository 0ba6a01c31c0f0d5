import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditAnchor, anchorSignatureValid } from '../../libs/audit-anchors';
import { LocalAuditSigner, localAuditKeyFile } from '../../libs/crypto';
import { SpawnedWorker, startWorker, waitFor } from '../keys/support';
import { startTestVault, TestVault } from '../support/vault';
import { Receiver } from '../webhooks/support';

/**
 * Anchors leave the real worker process on schedule and on SIGTERM, through every outlet: the
 * `audit anchor` JSON log line, AUDIT_ANCHOR_FILE, the `audit.anchor` webhook (operators only) and
 * the database copy that `GET /v1/admin/audit/verify` checks.
 */
describe('audit anchors emitted by the worker (SECURITY 53)', () => {
  let v: TestVault;
  let receiver: Receiver;
  const dir = mkdtempSync(join(tmpdir(), 'anchor-emission-'));
  const kekFile = join(dir, 'kek.json');
  const workers: SpawnedWorker[] = [];
  const operator = () => v.issuer.sign({ sub: 'secops@ops', tid: 'ops', scope: 'vault:admin vault:operator' });
  /** Complete lines only: a line still being written (or a stdout chunk cut mid-line) is left for the next look. */
  const complete = (text: string): string[] => text.split('\n').slice(0, -1).filter(Boolean);
  const lines = (file: string): AuditAnchor[] =>
    existsSync(file) ? complete(readFileSync(file, 'utf8')).map((l) => JSON.parse(l) as AuditAnchor) : [];
  const logged = (w: SpawnedWorker): AuditAnchor[] =>
    complete(w.output.join(''))
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .filter((l) => l.msg === 'audit anchor')
      .map((l) => l.anchor);

  async function worker(env: Record<string, string>): Promise<SpawnedWorker> {
    const w = await startWorker({
      DATABASE_URL: v.db.url,
      LOCAL_KEK_FILE: kekFile,
      VAULT_PUBLIC_URL: 'https://vault.test.example',
      KEY_SCHEDULER_INTERVAL_SECONDS: '3600',
      LOG_LEVEL: 'info',
      ...env,
    });
    workers.push(w);
    return w;
  }

  beforeAll(async () => {
    receiver = await new Receiver().start();
    v = await startTestVault({
      LOCAL_KEK_FILE: kekFile,
      OUTBOUND_ALLOW_HOSTS: '127.0.0.1',
      WEBHOOKS_IN_PROCESS: 'true',
      WEBHOOK_POLL_INTERVAL_MS: '20',
    });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill('SIGKILL')));
    await v?.close();
    await receiver?.close();
  });

  it('only an operator subscribes an endpoint to audit.anchor', async () => {
    const put = (token: string) =>
      v.call('PUT', '/v1/admin/webhooks', { token, body: { url: `${receiver.url}/anchors`, events: ['audit.anchor'] } });
    const refused = await put(v.issuer.adminToken('ops'));
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body.errors)).toContain('vault:operator');
    const r = await put(operator());
    expect(r.status).toBe(201);
    receiver.trust('/anchors', r.body.secret);
  });

  it('emits signed anchors on schedule: log line, file, webhook, database; the admin check verifies them', async () => {
    await v.call('PUT', '/v1/admin/policies/p1', {
      token: v.issuer.adminToken('ops'),
      body: { agents: ['*'], integrations: ['x'], effect: 'allow' },
    });
    const file = join(dir, 'scheduled.jsonl');
    const w = await worker({ AUDIT_ANCHOR_INTERVAL_SECONDS: '1', AUDIT_ANCHOR_FILE: file });
    await waitFor('two anchors in the file', () => lines(file).length >= 2, 30_000);
    const anchors = lines(file);
    const signer = new LocalAuditSigner(localAuditKeyFile(kekFile));
    await signer.init();
    for (const a of anchors) {
      expect(a).toMatchObject({ vault: 'https://vault.test.example', alg: 'ES256', hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect(anchorSignatureValid(a, (await signer.publicKey(a.kid))!)).toBe(true);
    }
    expect(BigInt(anchors[0].seq)).toBeGreaterThan(0n); // the admin calls above were audited
    await waitFor('the log lines', () => logged(w).length >= 2);
    expect(logged(w).slice(0, 2)).toEqual(anchors.slice(0, 2));

    const delivered = await waitFor(
      'an audit.anchor delivery',
      () => receiver.to('/anchors').find((r) => r.json?.type === 'audit.anchor'),
      30_000,
    );
    expect(delivered.verified).toBe(true);
    expect(lines(file)).toContainEqual(delivered.json.data); // the file has grown meanwhile: deliveries need not come in order

    // The database copy is written beside the file, not after it.
    const stored = async () => ((await v.db.ds.query('SELECT sig FROM vault.audit_anchors')) as { sig: string }[]).map((s) => s.sig);
    await waitFor('the anchors in the database', async () => ((all) => anchors.every((a) => all.includes(a.sig)))(await stored()));
    expect(await stored()).toEqual(expect.arrayContaining(anchors.map((a) => a.sig)));

    const check = await v.call('GET', '/v1/admin/audit/verify', { token: operator() });
    expect(check.status).toBe(200);
    expect(check.body).toMatchObject({ ok: true, last_verified_anchor: { seq: expect.any(String), age_seconds: expect.any(Number) } });
    expect(check.body.anchors).toBeGreaterThanOrEqual(2);
    expect((await v.call('GET', '/v1/admin/audit/verify', { token: v.issuer.adminToken('ops') })).status).toBe(403);
    // The dashboard shows the newest anchor the chain was verified against, and its age.
    const page = await v.call('GET', '/dashboard', { token: v.issuer.adminToken('ops') });
    expect(page.status).toBe(200);
    expect(page.text).toContain(
      `Verified against the signed anchor of <strong>${check.body.last_verified_anchor.at.replace('T', ' ').slice(0, 16)} UTC</strong>`,
    );
    expect(page.text).toMatch(/data-figure="audit-anchor-age">\d+ s</);
    await w.kill('SIGTERM');
  });

  it('emits one anchor on SIGTERM, of the head at that moment', async () => {
    const file = join(dir, 'shutdown.jsonl');
    const w = await worker({ AUDIT_ANCHOR_INTERVAL_SECONDS: '3600', AUDIT_ANCHOR_FILE: file });
    await v.call('PUT', '/v1/admin/policies/p2', {
      token: v.issuer.adminToken('ops'),
      body: { agents: ['*'], integrations: ['y'], effect: 'allow' },
    });
    expect(lines(file)).toEqual([]);
    const [head] = (await v.db.ds.query("SELECT seq::text AS seq, encode(hash, 'hex') AS hash FROM vault.audit_chain_head")) as {
      seq: string;
      hash: string;
    }[];
    await w.kill('SIGTERM');
    expect(w.proc.signalCode).toBe('SIGTERM'); // Nest re-raises the signal once its shutdown hooks are done
    expect(lines(file)).toEqual([expect.objectContaining({ seq: head.seq, hash: head.hash })]);
    // 'exit' may come before the last stdout chunk is read.
    await waitFor('the log line', () => logged(w).length > 0);
    expect(logged(w)).toEqual(lines(file));
  });

  it('reports a rewound log against the anchors it has seen', async () => {
    const [head] = (await v.db.ds.query('SELECT seq::text AS seq FROM vault.audit_chain_head')) as { seq: string }[];
    const cut = BigInt(head.seq) - 2n;
    await v.db.ds.transaction(async (m) => {
      await m.query('SET LOCAL session_replication_role = replica');
      await m.query(`DELETE FROM vault.audit_events WHERE seq > ${cut}`);
      await m.query(`UPDATE vault.audit_chain_head SET seq = ${cut}, hash = (SELECT hash FROM vault.audit_events WHERE seq = ${cut})`);
    });
    // The oldest anchor past the cut is the first one the shortened chain no longer reaches.
    const [first] = (await v.db.ds.query(`SELECT min(seq)::text AS seq FROM vault.audit_anchors WHERE seq > ${cut}`)) as { seq: string }[];
    expect(first.seq).not.toBeNull();
    const check = await v.call('GET', '/v1/admin/audit/verify', { token: operator() });
    expect(check.status).toBe(200);
    expect(check.body).toMatchObject({
      ok: false,
      problem: 'anchor_mismatch',
      failed_anchor: { seq: first.seq },
      last_verified_anchor: null,
    });
    const page = await v.call('GET', '/dashboard', { token: v.issuer.adminToken('ops') });
    expect(page.text).toContain('The audit log does not match its signed anchors (<code>anchor_mismatch</code>)');
  });
});
