import { spawn } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { anchorPayload } from '../../libs/audit-anchors';
import { LocalAuditSigner, LocalKeyProvider, localAuditKeyFile, SystemKeys } from '../../libs/crypto';
import { runCli } from '../keys/support';
import { AnchoredChain, anchoredChains } from './anchored-chains';
import { event, newAuditLog } from './support';

/**
 * SECURITY.md 53: tampering that leaves a consistent-looking table (truncation, a dropped tail with the
 * triggers off, a reset head, a rewritten row) is caught by `audit verify --anchors` against anchors kept
 * outside the database — exit 2 naming the first anchor that fails; forged anchors are refused.
 * The chain is written by the real audit log, anchors by the real anchor job (local provider's key),
 * and verification is the real CLI process.
 */
describe('audit verify --anchors (SECURITY 53)', () => {
  const chains = anchoredChains('anchors');
  const scenario = () => chains.chain();

  /** As a superuser: every trigger off for the statement's transaction. */
  async function tamper(ds: DataSource, ...statements: string[]): Promise<void> {
    await ds.transaction(async (m) => {
      await m.query('SET LOCAL session_replication_role = replica');
      for (const sql of statements) await m.query(sql);
    });
  }

  const verify = (s: AnchoredChain, ...extra: string[]) => runCli(['audit', 'verify', '--anchors', s.file, ...extra], s.env);

  it('passes an untouched chain, the anchors as the file holds them', async () => {
    const s = await scenario();
    expect(
      (await readFile(s.file, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual(s.anchors);
    expect(s.anchors.map((a) => a.seq)).toEqual(['3', '6']);
    const r = await verify(s);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, checked: 7, anchors: 2, newestAnchor: { seq: '6' } });
  });

  it('catches a truncated log (head reset too): exit 2 naming the first anchor', async () => {
    const s = await scenario();
    await tamper(s.ds, 'TRUNCATE audit_events', 'DELETE FROM audit_chain_head');
    const r = await verify(s);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`anchor seq=3 at=${s.anchors[0].at} fails: anchor_mismatch`);
    // Without anchors the emptied log looks like a new one.
    expect((await runCli(['audit', 'verify'], s.env)).code).toBe(0);
  });

  it('catches a dropped tail with the head rewound to match: exit 2 naming the anchor past the cut', async () => {
    const s = await scenario();
    await tamper(
      s.ds,
      'DELETE FROM audit_events WHERE seq > 4',
      'UPDATE audit_chain_head SET seq = 4, hash = (SELECT hash FROM audit_events WHERE seq = 4)',
    );
    expect((await runCli(['audit', 'verify'], s.env)).code).toBe(0);
    const r = await verify(s);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`anchor seq=6 at=${s.anchors[1].at} fails: anchor_mismatch`);
  });

  it('catches a reset head: exit 2 naming the anchor it no longer reaches', async () => {
    const s = await scenario();
    await tamper(s.ds, 'UPDATE audit_chain_head SET seq = 2, hash = (SELECT hash FROM audit_events WHERE seq = 2)');
    const r = await verify(s);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, problem: 'head_mismatch', firstBadSeq: '3', failedAnchor: { seq: '3' } });
    expect(r.stderr).toContain('anchor seq=3');
  });

  it('catches a rewritten row, even one whose chain was recomputed after it', async () => {
    const s = await scenario();
    await tamper(s.ds, `UPDATE audit_events SET outcome = 'denied' WHERE seq = 5`);
    const r = await verify(s);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('anchor seq=6');
    expect(JSON.parse(r.stdout)).toMatchObject({ problem: 'hash_mismatch', firstBadSeq: '5' });

    // Someone holding the MAC key rewrites the whole chain consistently: only an anchor can tell.
    const t = await scenario();
    const kek = new LocalKeyProvider(t.env.LOCAL_KEK_FILE);
    await kek.init();
    const mac = await new SystemKeys(t.ds, kek).get('audit-mac');
    await tamper(t.ds, 'TRUNCATE audit_events', 'DELETE FROM audit_chain_head');
    const rewrite = newAuditLog(t.ds, mac);
    for (let i = 1; i <= 7; i++) await rewrite.record(event('t0', { details: { i, rewritten: true } }));
    expect((await runCli(['audit', 'verify'], t.env)).code).toBe(0);
    const r2 = await verify(t);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain(`anchor seq=3 at=${t.anchors[0].at} fails: anchor_mismatch`);
  });

  it('refuses a forged anchor: altered after signing, or signed by another key', async () => {
    const s = await scenario();
    const [a1, a2] = s.anchors;
    // Moved back to cover for a cut tail: the signature no longer matches.
    await writeFile(s.file, [a1, { ...a2, seq: '4' }].map((a) => JSON.stringify(a)).join('\n'));
    const r = await verify(s);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, problem: 'anchor_signature_invalid', failedAnchor: { seq: '4' } });
    expect(r.stderr).toContain('anchor seq=4');

    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const head = { seq: '2', hash: a1.hash, at: a1.at, vault: a1.vault };
    const forged = {
      ...head,
      alg: 'ES256',
      kid: a1.kid,
      sig: sign('sha256', anchorPayload(head), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url'),
    };
    await writeFile(s.file, JSON.stringify(forged));
    const r2 = await verify(s);
    expect(r2.code).toBe(2);
    expect(JSON.parse(r2.stdout)).toMatchObject({ problem: 'anchor_signature_invalid', failedAnchor: { seq: '2' } });
  });

  it('takes the public key from --public-key, and refuses anchors under a key that is not it', async () => {
    const s = await scenario();
    const signer = new LocalAuditSigner(localAuditKeyFile(s.env.LOCAL_KEK_FILE));
    await signer.init();
    const pem = (await signer.publicKey(s.anchors[0].kid))!.export({ type: 'spki', format: 'pem' }) as string;
    await writeFile(join(chains.dir, 'audit.pub.pem'), pem);
    expect((await verify(s, '--public-key', join(chains.dir, 'audit.pub.pem'))).code).toBe(0);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    await writeFile(join(chains.dir, 'other.pub.pem'), other);
    const r = await verify(s, '--public-key', join(chains.dir, 'other.pub.pem'));
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ problem: 'anchor_signature_invalid', failedAnchor: { seq: '3' } });
  });

  it('reads anchors from stdin (`--anchors -`), e.g. grepped out of the logs', async () => {
    const s = await scenario();
    const input = s.anchors.map((anchor) => JSON.stringify({ level: 30, msg: 'audit anchor', anchor })).join('\n');
    const run = (text: string) =>
      new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const root = join(__dirname, '..', '..');
        const proc = spawn(
          process.execPath,
          ['-r', join(root, 'test/support/register-ts.js'), join(root, 'apps/cli/main.ts'), 'audit', 'verify', '--anchors', '-'],
          {
            cwd: root,
            env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', ...s.env },
            stdio: ['pipe', 'ignore', 'pipe'],
          },
        );
        let stderr = '';
        proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        proc.once('exit', (code) => resolve({ code, stderr }));
        proc.stdin.end(text);
      });
    expect((await run(input)).code).toBe(0);
    await tamper(
      s.ds,
      'DELETE FROM audit_events WHERE seq > 5',
      'UPDATE audit_chain_head SET seq = 5, hash = (SELECT hash FROM audit_events WHERE seq = 5)',
    );
    const r = await run(input);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('anchor seq=6');
    expect((await run('')).stderr).toContain('holds no anchor');
  });

  it('reads the log lines as emitted, and names a line that is not an anchor', async () => {
    const s = await scenario();
    const logs = [
      { level: 30, msg: 'credential vault worker started' },
      ...s.anchors.map((anchor) => ({ level: 30, msg: 'audit anchor', anchor })),
    ];
    const logFile = join(chains.dir, 'worker.log');
    await writeFile(logFile, logs.map((l) => JSON.stringify(l)).join('\n'));
    expect((await runCli(['audit', 'verify', '--anchors', logFile], s.env)).code).toBe(0);
    await writeFile(logFile, `${JSON.stringify(s.anchors[0])}\n{"seq": "3"}\n`);
    const r = await runCli(['audit', 'verify', '--anchors', logFile], s.env);
    expect(r.code).toBe(64);
    expect(r.stderr).toContain('anchors line 2: hash must be 64 lower-case hex digits');
  });
});
