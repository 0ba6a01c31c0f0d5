import fc from 'fast-check';
import { BlockList } from 'node:net';
import { embeddedIPv4, isGloballyReachable } from './address-classifier';
import { IPV4_SPECIAL, IPV6_SPECIAL, SpecialRange } from './special-purpose-registry';

/**
 * SECURITY 18: property tests over the IANA special-purpose registries. The oracle is Node's
 * own `BlockList` over the same rows, so a parsing or masking slip in the classifier shows.
 */
const v4 = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join('.');
const v6 = (n: bigint) => Array.from({ length: 8 }, (_, i) => ((n >> BigInt(112 - 16 * i)) & 0xffffn).toString(16)).join(':');
const v4Num = (s: string) => s.split('.').reduce((a, p) => a * 256 + Number(p), 0);
const v6Num = (s: string) => {
  const [h, t = ''] = s.split('::');
  const hw = h ? h.split(':') : [];
  const tw = t ? t.split(':') : [];
  return [...hw, ...Array(8 - hw.length - tw.length).fill('0'), ...tw].reduce((a, w) => (a << 16n) | BigInt(parseInt(w, 16)), 0n);
};

function listOf(rows: readonly SpecialRange[], family: 'ipv4' | 'ipv6'): BlockList {
  const list = new BlockList();
  for (const row of rows) list.addSubnet(row.prefix, row.bits, family);
  return list;
}
/** Rows more specific than `row` that say something else: an address there is judged by them. */
const carveOuts = (rows: readonly SpecialRange[], row: SpecialRange, family: 'ipv4' | 'ipv6') =>
  listOf(
    rows.filter((x) => x.bits > row.bits && x.reachability !== row.reachability),
    family,
  );

const anyV4Special = listOf(IPV4_SPECIAL, 'ipv4');
const blockedV4 = IPV4_SPECIAL.filter((x) => x.reachability === 'not_global');

/** A uniformly random address inside `prefix/bits`. */
const inV4 = (row: SpecialRange) =>
  fc.integer({ min: 0, max: 2 ** (32 - row.bits) - 1 }).map((host) => v4((v4Num(row.prefix) + host) >>> 0));
const inV6 = (row: SpecialRange) =>
  fc.bigInt({ min: 0n, max: (1n << BigInt(128 - row.bits)) - 1n }).map((host) => v6(v6Num(row.prefix) | host));
const publicV4 = fc
  .integer({ min: 0, max: 2 ** 32 - 1 })
  .map(v4)
  .filter((ip) => !anyV4Special.check(ip, 'ipv4'));
const nonGlobalV4 = fc.oneof(...blockedV4.map((row) => inV4(row).filter((ip) => !carveOuts(IPV4_SPECIAL, row, 'ipv4').check(ip, 'ipv4'))));
const word = fc.integer({ min: 0, max: 0xffff }).map((w) => w.toString(16));
const hex32 = (ip: string) => {
  const n = v4Num(ip);
  return `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
};
const teredoClient = (ip: string) => hex32(v4(~v4Num(ip) >>> 0));

/** Every IPv6 form that carries `ip`, per RFC 4291, RFC 2765, RFC 6052, RFC 3056 and RFC 4380. */
const forms = (ip: string, server: string, w: string) => [
  `::ffff:${ip}`,
  `::ffff:${hex32(ip)}`,
  `::ffff:0:${ip}`,
  `::ffff:0:${hex32(ip)}`,
  `64:ff9b::${ip}`,
  `64:ff9b::${hex32(ip)}`,
  `2002:${hex32(ip)}:${w}::${w}`,
  `2001:0:${hex32(server)}:${w}:${w}:${teredoClient(ip)}`,
];

describe('address classifier over the IANA special-purpose registries', () => {
  it.each(blockedV4.map((row) => [row.name, row.prefix, row.bits, row] as const))(
    'IPv4 %s (%s/%d): every address not carved out is refused',
    (_n, _p, _b, row) => {
      const carved = carveOuts(IPV4_SPECIAL, row, 'ipv4');
      fc.assert(
        fc.property(inV4(row), (ip) => {
          fc.pre(!carved.check(ip, 'ipv4'));
          expect(isGloballyReachable(ip)).toBe(false);
        }),
      );
    },
  );

  it.each(IPV6_SPECIAL.filter((x) => x.reachability === 'not_global').map((row) => [row.name, row.prefix, row.bits, row] as const))(
    'IPv6 %s (%s/%d): every address not carved out is refused',
    (_n, _p, _b, row) => {
      const carved = carveOuts(IPV6_SPECIAL, row, 'ipv6');
      fc.assert(
        fc.property(inV6(row), (ip) => {
          fc.pre(!carved.check(ip, 'ipv6'));
          expect(isGloballyReachable(ip)).toBe(false);
        }),
      );
    },
  );

  it('globally reachable rows inside non-global ones stay reachable', () => {
    for (const row of IPV4_SPECIAL.filter((x) => x.reachability === 'global'))
      expect([row.prefix, isGloballyReachable(row.prefix)]).toEqual([row.prefix, true]);
    for (const row of IPV6_SPECIAL.filter((x) => x.reachability === 'global'))
      expect([row.prefix, isGloballyReachable(row.prefix)]).toEqual([row.prefix, true]);
  });

  it('public IPv4 is reachable, and so is every IPv6 form embedding it', () => {
    fc.assert(
      fc.property(publicV4, publicV4, word, (ip, server, w) => {
        expect(isGloballyReachable(ip)).toBe(true);
        for (const f of forms(ip, server, w)) expect([f, isGloballyReachable(f)]).toEqual([f, true]);
      }),
    );
  });

  it('every IPv6 form embedding a non-global IPv4 is refused, and decodes to it', () => {
    fc.assert(
      fc.property(nonGlobalV4, publicV4, word, (ip, server, w) => {
        for (const f of forms(ip, server, w)) {
          expect([f, isGloballyReachable(f)]).toEqual([f, false]);
          expect([f, embeddedIPv4(f)]).toEqual([f, ip]);
        }
      }),
    );
  });

  it('a Teredo address whose server is not global is refused even for a public client', () => {
    fc.assert(
      fc.property(publicV4, nonGlobalV4, (client, server) => {
        expect(isGloballyReachable(`2001:0:${hex32(server)}::${teredoClient(client)}`)).toBe(false);
      }),
    );
  });

  it('IPv6 outside 2000::/3 and the translation forms is refused; global unicast outside the registry is reachable', () => {
    const special = listOf(IPV6_SPECIAL, 'ipv6');
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (n) => {
        const ip = v6(n);
        fc.pre(!special.check(ip, 'ipv6'));
        expect(isGloballyReachable(ip)).toBe(n >> 125n === 1n);
      }),
    );
  });

  it("names the issue's examples", () => {
    for (const ip of [
      '::ffff:0:7f00:2',
      '64:ff9b:1::a9fe:a9fe',
      '64:ff9b:1:ffff::8.8.8.8',
      '2001:0:4136:e378:8000:63bf:80ff:fffe',
      '2002:c0a8:101::1',
      'fe80::1%eth0',
    ])
      expect([ip, isGloballyReachable(ip)]).toEqual([ip, false]);
    expect(embeddedIPv4('2001:0:4136:e378:8000:63bf:3fff:fdd2')).toBe('192.0.2.45');
  });
});
