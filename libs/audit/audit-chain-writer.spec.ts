import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Secret } from '../kernel';
import { AUDIT_OUTCOMES, AuditEventInput, AuditInputError } from './audit.types';
import { chainBatch } from './audit-chain-writer';
import { ACTION_PATTERN, PreparedEvent, prepareEvent, sanitizeDetails } from './audit-event';
import { canonicalEvent, canonicalJson, chainHash } from './canonical';

/*
 * The write path as it was before issue 21's round 3 (prepareEvent's fields, the chain's rows,
 * canonicalEvent's template, the batch JSON), kept as the reference the new one must match:
 * same hashes, same receipts, the same values in the batch Postgres reads, the same errors.
 */
interface RefEvent {
  id: string;
  at: string;
  tenant: string;
  action: string;
  outcome: string;
  reason: string | null;
  agent: string | null;
  subject: string | null;
  integration: string | null;
  detailsJson: string;
}
type RefRow = RefEvent & { seq: string; prevHash: Buffer; hash: Buffer };

const ref = {
  canonicalEvent(e: Omit<RefEvent, 'detailsJson'> & { seq: string }, details: string): string {
    const s = JSON.stringify;
    return (
      `{"action":${s(e.action)},"agent":${s(e.agent)},"at":${s(e.at)},"details":${details},"id":${s(e.id)},` +
      `"integration":${s(e.integration)},"outcome":${s(e.outcome)},"reason":${s(e.reason)},"seq":${s(e.seq)},` +
      `"subject":${s(e.subject)},"tenant":${s(e.tenant)}}`
    );
  },
  text(value: unknown, field: string, optional: boolean): string | null {
    if (optional && (value === undefined || value === null)) return null;
    if (typeof value !== 'string' || value.length > 512)
      throw new AuditInputError(`audit event ${field} must be a string of at most 512 characters`);
    // eslint-disable-next-line no-control-regex -- as the old code
    if (/\u0000|\p{Cs}/u.test(value)) throw new AuditInputError(`${field}: contains characters that cannot be stored`);
    return value;
  },
  prepare(input: AuditEventInput, now: Date, id: string): RefEvent {
    if (typeof input.action !== 'string' || !ACTION_PATTERN.test(input.action))
      throw new AuditInputError('audit event action must be a dotted lower-case name');
    if (!(AUDIT_OUTCOMES as readonly string[]).includes(input.outcome))
      throw new AuditInputError('audit event outcome must be allowed, denied or error');
    const detailsJson = canonicalJson(sanitizeDetails(input.details));
    return {
      id,
      at: now.toISOString(),
      tenant: ref.text(input.tenant, 'tenant', false)!,
      action: input.action,
      outcome: input.outcome,
      reason: ref.text(input.reason, 'reason', true),
      agent: ref.text(input.agent, 'agent', true),
      subject: ref.text(input.subject, 'subject', true),
      integration: ref.text(input.integration, 'integration', true),
      detailsJson,
    };
  },
  chain(events: RefEvent[], head: { seq: bigint; hash: Buffer }, key: Buffer): RefRow[] {
    let seq = head.seq;
    let prevHash = head.hash;
    return events.map((e) => {
      seq += 1n;
      const row: RefRow = { ...e, seq: seq.toString(), prevHash, hash: Buffer.alloc(0) };
      row.hash = createHmac('sha256', key).update(prevHash).update(ref.canonicalEvent(row, e.detailsJson), 'utf8').digest();
      prevHash = row.hash;
      return row;
    });
  },
  eventsJson(rows: RefRow[]): string {
    const s = JSON.stringify;
    const items = rows.map(
      (r) =>
        `{"seq":${r.seq},"id":"${r.id}","at":"${r.at}","tenant":${s(r.tenant)},"action":${s(r.action)},` +
        `"outcome":${s(r.outcome)},"reason":${s(r.reason)},"agent":${s(r.agent)},"subject":${s(r.subject)},` +
        `"integration":${s(r.integration)},"details":${r.detailsJson},"prev_hash":"${r.prevHash.toString('hex')}",` +
        `"hash":"${r.hash.toString('hex')}"}`,
    );
    return `[${items.join(',')}]`;
  },
};

/** What `jsonb_to_recordset` reads from each element: the columns, `seq` as the bigint's digits (as a number, exact only as text). */
const columns = (json: string) =>
  (JSON.parse(json.replace(/\{"seq":(\d+),/g, '{"seq":"$1",')) as Array<Record<string, unknown>>).map((e) => ({
    ...e,
    details: canonicalJson(e.details),
  }));

/**
 * How a call ended. Where in `details` a fault is named can differ from the reference's two-step
 * form (the one-pass encoder checks values in key order; audit-event.spec.ts covers that), so only
 * that a details fault was found is compared; every other message must be the same.
 */
const outcome = (f: () => unknown): string => {
  try {
    f();
    return 'ok';
  } catch (err) {
    const message = (err as Error).message;
    return `${(err as Error).name}: ${message.startsWith('details') ? 'details …' : message}`;
  }
};

const text = fc.oneof(
  { weight: 6, arbitrary: fc.string({ maxLength: 12 }) },
  fc.string({ unit: 'binary', maxLength: 6 }), // non-ASCII, astral, lone surrogates
  fc.constantFrom('a"b\\c\n\u0001\u007f', 'ünï\u{1F600}', '\u0000', 'x'.repeat(513), null, undefined, 42),
);
const leaf = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.string({ maxLength: 8 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.date(),
  fc.constant(Secret.of('canary')),
);
const value = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    leaf,
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 6 }), tie('v'), { maxKeys: 4 }),
  ),
})).v;
const input = fc.record({
  tenant: text,
  action: fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom('credential.release', 'token.exchange', 'a.b-c_d') },
    fc.constantFrom('Bad Action', ''),
  ),
  outcome: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...AUDIT_OUTCOMES) }, fc.constant('ok')),
  reason: text,
  agent: text,
  subject: text,
  integration: text,
  details: fc.option(fc.dictionary(fc.string({ maxLength: 6 }), value, { maxKeys: 6 }), { nil: undefined }),
}) as fc.Arbitrary<AuditEventInput>;

describe('the audit write path against the one it replaced', () => {
  const key = randomBytes(32);
  const now = new Date(Date.UTC(2026, 11, 4, 21, 0, 0, 7));

  it('prepares, numbers and hashes events to the same hashes, receipts and stored values, and refuses the same inputs', () => {
    let batches = 0;
    fc.assert(
      fc.property(
        fc.array(input, { minLength: 1, maxLength: 6 }),
        fc.bigInt({ min: 0n, max: 2n ** 62n }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (inputs, seq, prev) => {
          const head = { seq, hash: Buffer.from(prev) };
          const prepared: PreparedEvent[] = [];
          const reference: RefEvent[] = [];
          for (const i of inputs) {
            const got = outcome(() => prepared.push(prepareEvent(i, now)));
            const id = prepared.at(-1)?.id ?? '';
            expect(got).toBe(outcome(() => reference.push(ref.prepare(i, now, id))));
          }
          if (prepared.length === 0) return;
          batches++;
          const batch = chainBatch(prepared, head, key);
          const rows = ref.chain(reference, head, key);
          expect(batch.receipts).toEqual(rows.map((r) => ({ id: r.id, seq: r.seq })));
          expect(batch.seq).toBe(rows.at(-1)!.seq);
          expect(batch.hash.equals(rows.at(-1)!.hash)).toBe(true);
          expect(columns(batch.json)).toEqual(columns(ref.eventsJson(rows)));
          // What `audit verify` recomputes from the stored row.
          for (const r of rows) expect(chainHash(key, r.prevHash, { ...r, details: JSON.parse(r.detailsJson) }).equals(r.hash)).toBe(true);
        },
      ),
      { numRuns: 400 },
    );
    expect(batches).toBeGreaterThan(200); // the generator mostly makes storable events
  });

  it('writes canonicalEvent as the old template did, whatever the text', () => {
    const s = fc.oneof(fc.string(), fc.string({ unit: 'binary' }));
    const n = fc.option(s, { nil: null });
    fc.assert(
      fc.property(
        fc.record({ seq: s, id: s, at: s, tenant: s, action: s, outcome: s, reason: n, agent: n, subject: n, integration: n }),
        fc.jsonValue(),
        (e, d) => {
          const details = canonicalJson(d);
          expect(canonicalEvent({ ...e, details: null }, details)).toBe(ref.canonicalEvent(e, details));
        },
      ),
      { numRuns: 500 },
    );
  });
});
