import fc from 'fast-check';
import { randomEventId } from './event-id';
import { JsonText } from './json-text';

describe('JsonText', () => {
  const w = new JsonText();
  const piece = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }), // astral characters and lone surrogates
    fc.string({ unit: 'binary', minLength: 60, maxLength: 300 }), // past the copy loop's length
    fc.constantFrom('"', '\\', '\u0000\u001f\u007f', 'é', '\u{1F600}', '\ud800', 'x'.repeat(5000)),
  );

  it('writes str(s) as JSON.stringify(s) and raw(t) as t, in order, however long or non-ASCII', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), piece), { maxLength: 12 }), (pieces) => {
        w.reset();
        let expected = '';
        for (const [asString, s] of pieces) {
          const json = JSON.stringify(s);
          if (asString) w.str(s);
          else w.raw(json); // raw is for text that is JSON already
          expected += json;
        }
        expect(w.text()).toBe(expected);
        expect(w.chars).toBe(expected.length);
      }),
      { numRuns: 500 },
    );
  });
});

describe('randomEventId', () => {
  it('makes distinct v4 UUIDs, as crypto.randomUUID does', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const id = randomEventId();
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      ids.add(id);
    }
    expect(ids.size).toBe(1000);
  });
});
