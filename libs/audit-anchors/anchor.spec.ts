import { generateKeyPairSync, sign } from 'node:crypto';
import { anchorPayload, anchorSignatureValid, AuditAnchor, parseAnchorLines } from './anchor';

describe('audit anchors', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const head = { seq: '7', hash: 'ab'.repeat(32), at: '2026-12-04T15:00:00.000Z', vault: 'https://vault.example.com' };
  const anchor: AuditAnchor = {
    ...head,
    alg: 'ES256',
    kid: 'local:audit/x',
    sig: sign('sha256', anchorPayload(head), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url'),
  };

  it('accepts its own signature and refuses any change to a signed field', () => {
    expect(anchorSignatureValid(anchor, publicKey)).toBe(true);
    for (const change of [
      { seq: '8' },
      { hash: 'cd'.repeat(32) },
      { at: '2026-12-04T15:00:01.000Z' },
      { vault: 'https://other.example.com' },
    ]) {
      expect(anchorSignatureValid({ ...anchor, ...change }, publicKey)).toBe(false);
    }
    expect(anchorSignatureValid(anchor, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey)).toBe(false);
    expect(anchorSignatureValid({ ...anchor, alg: 'RS256' }, publicKey)).toBe(false);
  });

  it('reads the file form, log lines and webhook bodies; skips other log lines; names a bad line', () => {
    const text = [
      JSON.stringify(anchor),
      '',
      JSON.stringify({ level: 30, msg: 'something else' }),
      JSON.stringify({ msg: 'audit anchor', anchor }),
      JSON.stringify({ type: 'audit.anchor', data: anchor }),
    ].join('\n');
    expect(parseAnchorLines(text)).toEqual([anchor, anchor, anchor]);
    expect(() => parseAnchorLines(`${JSON.stringify(anchor)}\nnot json`)).toThrow('anchors line 2: not JSON');
    expect(() => parseAnchorLines(JSON.stringify({ ...anchor, seq: 7 }))).toThrow(/line 1: seq must be/);
  });
});
