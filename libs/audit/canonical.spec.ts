import fc from 'fast-check';
import { canonicalEvent, canonicalJson, chainHash, ChainedEvent, GENESIS_HASH } from './canonical';

const event: ChainedEvent = {
  seq: '1',
  id: '6f1c2a4e-3b1d-4c5e-9f00-0a1b2c3d4e5f',
  at: '2026-01-01T00:00:00.000Z',
  tenant: 'acme',
  action: 'credential.release',
  outcome: 'allowed',
  reason: null,
  agent: 'bot',
  subject: 'alice',
  integration: 'github',
  details: { b: 1, a: [{ d: 2, c: 3 }] },
};

describe('canonicalJson', () => {
  it('sorts keys at every depth and drops no information', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 'x' }], e: null })).toBe('{"a":[{"c":"x","d":2}],"b":1,"e":null}');
  });

  it('does not depend on insertion order, and survives a JSON round trip (as jsonb does)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const reversed = JSON.parse(JSON.stringify(v), (_k, x) =>
          x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).reverse()) : x,
        );
        expect(canonicalJson(reversed)).toBe(canonicalJson(v));
        expect(canonicalJson(JSON.parse(canonicalJson(v)))).toBe(canonicalJson(v));
      }),
    );
  });
});

describe('canonicalEvent', () => {
  it('is canonicalJson of the event as an object (what the verifier recomputes)', () => {
    const text = fc.option(fc.string({ unit: 'binary' }), { nil: null });
    fc.assert(
      fc.property(
        fc.string(),
        fc.string({ unit: 'binary' }),
        text,
        text,
        text,
        text,
        fc.dictionary(fc.string(), fc.jsonValue()),
        (seq, tenant, reason, agent, subject, integration, details) => {
          const e: ChainedEvent = { ...event, seq, tenant, reason, agent, subject, integration, details };
          expect(canonicalEvent(e)).toBe(canonicalJson({ ...e }));
          expect(canonicalEvent(e, canonicalJson(details))).toBe(canonicalJson({ ...e }));
        },
      ),
    );
  });
});

describe('chainHash', () => {
  const key = Buffer.alloc(32, 7);

  it('covers every field, the previous hash and the key', () => {
    const base = chainHash(key, GENESIS_HASH, event);
    const variants: Partial<ChainedEvent>[] = [
      { seq: '2' },
      { reason: '' },
      { agent: null },
      { details: { b: 1, a: [{ d: 2, c: 4 }] } },
      { at: '2026-01-01T00:00:00.001Z' },
    ];
    for (const v of variants) expect(chainHash(key, GENESIS_HASH, { ...event, ...v }).equals(base)).toBe(false);
    expect(chainHash(key, Buffer.alloc(32, 1), event).equals(base)).toBe(false);
    expect(chainHash(Buffer.alloc(32, 8), GENESIS_HASH, event).equals(base)).toBe(false);
  });

  it('keeps field boundaries unambiguous', () => {
    expect(canonicalEvent({ ...event, agent: 'a', subject: 'b' })).not.toBe(
      canonicalEvent({ ...event, agent: 'a","subject":"b', subject: null }),
    );
  });
});
