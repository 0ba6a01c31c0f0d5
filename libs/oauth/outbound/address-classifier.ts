import { isIP } from 'node:net';
import { IPV4_SPECIAL, IPV6_GLOBAL_UNICAST, IPV6_SPECIAL, SpecialRange } from './special-purpose-registry';

/**
 * Is an IP address globally reachable? The most specific row of the IANA special-purpose
 * registries that contains it decides; for a translation form (IPv4-mapped, SIIT, NAT64, 6to4,
 * Teredo) every IPv4 address it embeds must be globally reachable itself.
 */
export function isGloballyReachable(ip: string): boolean {
  const family = isIP(ip);
  if (family === 4) return classify(v4ToBigInt(ip), V4_ROWS, 32) !== 'not_global';
  const n = v6ToBigInt(ip);
  if (n === undefined) return false;
  const verdict = classify(n, V6_ROWS, 128);
  if (verdict === 'embeds') return embeddedIPv4s(n).every((v4) => classify(v4, V4_ROWS, 32) !== 'not_global');
  return verdict === 'global';
}

/**
 * The IPv4 host an IPv6 translation form reaches: IPv4-mapped (::ffff:0:0/96), SIIT
 * (::ffff:0:0:0/96), NAT64 (64:ff9b::/96), 6to4 (2002::/16) and Teredo's client (2001::/32).
 */
export function embeddedIPv4(ip: string): string | undefined {
  const n = v6ToBigInt(ip);
  if (n === undefined) return undefined;
  const all = embeddedIPv4s(n);
  return all.length ? bigIntToV4(all[all.length - 1]) : undefined;
}

type Row = { net: bigint; bits: number; reachability: SpecialRange['reachability'] };

const toRows = (rows: readonly SpecialRange[], parse: (s: string) => bigint, width: number): Row[] =>
  rows
    .map((x) => ({ net: parse(x.prefix) & mask(x.bits, width), bits: x.bits, reachability: x.reachability }))
    .sort((a, b) => b.bits - a.bits);

const V4_ROWS = toRows(IPV4_SPECIAL, v4ToBigInt, 32);
const V6_ROWS = toRows([...IPV6_SPECIAL, IPV6_GLOBAL_UNICAST], (s) => v6ToBigInt(s)!, 128);

/** The most specific row wins; no row means global for IPv4, outside 2000::/3 not global for IPv6. */
function classify(n: bigint, rows: Row[], width: number): SpecialRange['reachability'] {
  for (const row of rows) if ((n & mask(row.bits, width)) === row.net) return row.reachability;
  return width === 32 ? 'global' : 'not_global';
}

function embeddedIPv4s(n: bigint): bigint[] {
  const low = n & 0xffffffffn;
  const top = (bits: number) => n >> BigInt(128 - bits);
  if (top(96) === 0xffffn || top(96) === 0xffff0000n || top(96) === 0x64ff9b0000000000000000n) return [low];
  if (top(16) === 0x2002n) return [(n >> 80n) & 0xffffffffn];
  // Teredo: server IPv4 in bits 32-63, the client's IPv4 obfuscated as the bitwise NOT of the last 32 bits.
  if (top(32) === 0x20010000n) return [(n >> 64n) & 0xffffffffn, low ^ 0xffffffffn];
  return [];
}

function mask(bits: number, width: number): bigint {
  return bits === 0 ? 0n : ((1n << BigInt(bits)) - 1n) << BigInt(width - bits);
}

function v4ToBigInt(ip: string): bigint {
  return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function bigIntToV4(n: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => Number((n >> s) & 0xffn)).join('.');
}

/** 128 bits, or undefined when `ip` is not IPv6. Handles `::`, a zone id and a dotted IPv4 tail. */
export function v6ToBigInt(ip: string): bigint | undefined {
  const s = ip.split('%')[0];
  if (isIP(s) !== 6) return undefined;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  const body = tail ? s.slice(0, -tail[1].length) + '0:0' : s;
  const [head, rest] = body.split('::');
  const h = head ? head.split(':') : [];
  const t = rest !== undefined && rest ? rest.split(':') : [];
  const words = [...h, ...new Array(rest !== undefined ? 8 - h.length - t.length : 0).fill('0'), ...t].map((w) => BigInt(parseInt(w, 16)));
  const n = words.reduce((acc, w) => (acc << 16n) | w, 0n);
  return tail ? (n & ~0xffffffffn) | v4ToBigInt(tail[1]) : n;
}
