import { BlockList, isIP } from 'node:net';

/**
 * Which addresses a provider call may reach (SECURITY 18). Everything public is allowed;
 * loopback, link-local (cloud metadata at 169.254.169.254), private, shared, reserved and
 * multicast ranges are refused, in IPv4, IPv6 and every IPv6 form that embeds an IPv4
 * address (`::ffff:a.b.c.d`, NAT64, 6to4, IPv4-compatible). `OUTBOUND_ALLOW_HOSTS` lists the
 * exceptions an operator vouches for: host names (exact), IPs, or CIDRs.
 */
const BLOCKED_V4: Array<[string, number]> = [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
];
const BLOCKED_V6: Array<[string, number]> = [
  ['::', 128], ['::1', 128], ['100::', 64], ['2001::', 23], ['2001:db8::', 32], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8],
];

const blocked = new BlockList();
for (const [net, bits] of BLOCKED_V4) blocked.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of BLOCKED_V6) blocked.addSubnet(net, bits, 'ipv6');

export type AddressVerdict = { allowed: true } | { allowed: false; reason: 'blocked_address' | 'invalid_address' };

export class OutboundPolicy {
  private readonly hosts = new Set<string>();
  private readonly allowed = new BlockList();

  constructor(allowHosts: readonly string[] = []) {
    for (const raw of allowHosts) {
      const entry = raw.trim().toLowerCase().replace(/^\[|\]$/g, '');
      const [addr, bits] = entry.split('/');
      const family = isIP(addr);
      if (family && bits !== undefined) this.allowed.addSubnet(addr, Number(bits), family === 4 ? 'ipv4' : 'ipv6');
      else if (family) this.allowed.addAddress(addr, family === 4 ? 'ipv4' : 'ipv6');
      else if (/^[a-z0-9.-]+$/.test(entry)) this.hosts.add(entry.replace(/\.$/, ''));
      else throw new Error('OUTBOUND_ALLOW_HOSTS: an entry is not a host, IP or CIDR');
    }
  }

  /** An operator-allowlisted host name (exact, case-insensitive). */
  isAllowedHost(hostname: string): boolean {
    return this.hosts.has(normalizeHost(hostname));
  }

  /** Plain http is only for hosts the operator allowlisted (on-premises, local development, tests). */
  allowsPlainHttp(hostname: string): boolean {
    const h = normalizeHost(hostname);
    return this.hosts.has(h) || (isIP(h) !== 0 && this.isAllowlistedAddress(h));
  }

  /** May a connection to `address` (resolved for `hostname`) be opened? */
  checkAddress(address: string, hostname?: string): AddressVerdict {
    const ip = normalizeHost(address);
    const family = isIP(ip);
    if (!family) return { allowed: false, reason: 'invalid_address' };
    if ((hostname && this.isAllowedHost(hostname)) || this.isAllowlistedAddress(ip)) return { allowed: true };
    return isBlocked(ip, family) ? { allowed: false, reason: 'blocked_address' } : { allowed: true };
  }

  private isAllowlistedAddress(ip: string): boolean {
    const family = isIP(ip);
    if (family === 4) return this.allowed.check(ip, 'ipv4');
    const v4 = embeddedIPv4(ip);
    return this.allowed.check(ip, 'ipv6') || (v4 !== undefined && this.allowed.check(v4, 'ipv4'));
  }
}

function isBlocked(ip: string, family: number): boolean {
  if (family === 4) return blocked.check(ip, 'ipv4');
  if (blocked.check(ip, 'ipv6')) return true;
  const v4 = embeddedIPv4(ip);
  return v4 !== undefined && blocked.check(v4, 'ipv4');
}

/**
 * The IPv4 address inside an IPv6 one, for the forms that reach IPv4 hosts: IPv4-mapped
 * (::ffff:0:0/96), IPv4-compatible (::/96), NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
 */
export function embeddedIPv4(ip: string): string | undefined {
  const words = expandIPv6(ip);
  if (!words) return undefined;
  const zero = (from: number, to: number) => words.slice(from, to).every((w) => w === 0);
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  if (zero(0, 5) && (words[5] === 0xffff || words[5] === 0)) return v4(words[6], words[7]);
  if (words[0] === 0x64 && words[1] === 0xff9b && zero(2, 6)) return v4(words[6], words[7]);
  if (words[0] === 0x2002) return v4(words[1], words[2]);
  return undefined;
}

/** Eight 16-bit words, or undefined when `ip` is not IPv6. Handles `::` and a dotted IPv4 tail. */
function expandIPv6(ip: string): number[] | undefined {
  if (isIP(ip) !== 6) return undefined;
  let s = ip.split('%')[0];
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (tail) {
    const [a, b, c, d] = tail[1].split('.').map(Number);
    s = s.slice(0, -tail[1].length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = s.split('::');
  const h = head ? head.split(':') : [];
  const r = rest !== undefined ? (rest ? rest.split(':') : []) : [];
  const fill = rest !== undefined ? new Array(8 - h.length - r.length).fill('0') : [];
  const words = [...h, ...fill, ...r].map((w) => parseInt(w, 16));
  return words.length === 8 && words.every((w) => w >= 0 && w <= 0xffff) ? words : undefined;
}

/** Lower-case, without IPv6 brackets or a trailing dot. */
export function normalizeHost(host: string): string {
  return host.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '');
}
