import fc from 'fast-check';
import { asTenantId } from '../kernel';
import { blobOf, checkRef, fieldAad, framed, RecordRef, schemeOf, SEALED_LAYOUT, SEALED_TABLES } from './aad-scheme';
import { KeyUnwrapError } from './key-provider';

describe('AAD schemes', () => {
  const table = fc.constantFrom(...SEALED_TABLES);
  const text = fc.string({ maxLength: 12 });
  const ref = table.chain((t) =>
    fc.record({
      tenant: fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/).map(asTenantId),
      table: fc.constant(t as string),
      id: fc.uuid(),
      bind: fc
        .tuple(...SEALED_LAYOUT[t].bind.map(() => text))
        .map((vs) => Object.fromEntries(SEALED_LAYOUT[t].bind.map((k, i) => [k, vs[i]]))),
    }),
  );

  it('scheme 2 binds every part of the record, owner columns included; the two schemes never share an AAD', () => {
    fc.assert(
      fc.property(ref, ref, fc.constantFrom('a', 'b'), fc.constantFrom('a', 'b'), (r1: RecordRef, r2: RecordRef, f1, f2) => {
        const same =
          r1.tenant === r2.tenant &&
          r1.table === r2.table &&
          r1.id === r2.id &&
          f1 === f2 &&
          JSON.stringify(r1.bind) === JSON.stringify(r2.bind);
        expect(fieldAad(r1, f1, 2).equals(fieldAad(r2, f2, 2))).toBe(same);
        // The two schemes never share an AAD, so a ciphertext cannot be reinterpreted under the other.
        expect(fieldAad(r1, f1, 2).equals(fieldAad(r2, f2, 1))).toBe(false);
      }),
    );
  });

  it('the marker round-trips, and anything that is neither scheme is refused as a generic failure', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), (bytes) => {
        const blob = Buffer.concat([Buffer.of(0x01), Buffer.from(bytes)]);
        for (const s of [1, 2] as const) expect(blobOf(framed(blob, s), schemeOf(framed(blob, s))).equals(blob)).toBe(true);
        const other = Buffer.from(bytes);
        if (other[0] !== 0x01 && other[0] !== 0x02) expect(() => schemeOf(other)).toThrow(KeyUnwrapError);
      }),
    );
    expect(() => schemeOf(Buffer.alloc(0))).toThrow(KeyUnwrapError);
  });

  it("a record must bind exactly its table's identifying columns", () => {
    for (const t of SEALED_TABLES) {
      const bind = Object.fromEntries(SEALED_LAYOUT[t].bind.map((k) => [k, 'x']));
      expect(() => checkRef({ tenant: asTenantId('acme'), table: t, id: 'i', bind })).not.toThrow();
      expect(() => checkRef({ tenant: asTenantId('acme'), table: t, id: 'i', bind: { ...bind, extra: 'x' } })).toThrow('must bind exactly');
      const [first, ...rest] = SEALED_LAYOUT[t].bind;
      expect(() =>
        checkRef({ tenant: asTenantId('acme'), table: t, id: 'i', bind: Object.fromEntries(rest.map((k) => [k, 'x'])) }),
      ).toThrow('must bind exactly');
      expect(() => checkRef({ tenant: asTenantId('acme'), table: t, id: 'i', bind: { ...bind, [first]: 1 as never } })).toThrow(
        'must bind exactly',
      );
    }
    expect(() => checkRef({ tenant: asTenantId('acme'), table: 'agents', id: 'i', bind: {} })).toThrow('not a sealed table');
  });
});
