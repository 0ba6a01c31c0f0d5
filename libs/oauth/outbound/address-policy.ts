import { BlockList, isIP } from 'node:net';
import { embeddedIPv4, isGloballyReachable } from './address-classifier';

export { embeddedIPv4 };

export type AddressVerdict = { allowed: true } | { allowed: false; reason: 'blocked_address' | 'invalid_address' };

/**
 * Which addresses a provider call may reach (SECURITY 18). Only globally reachable addresses:
 * every non-global row of the IANA special-purpose registries is refused, and IPv6 translation
 * forms are judged by the IPv4 they embed (`address-classifier.ts`). `OUTBOUND_ALLOW_HOSTS`
 * lists the exceptions an operator vouches for: host names (exact), IPs, or CIDRs.
 */
export class OutboundPolicy {
  private readonly hosts = new Set<string>();
  private readonly allowed = new BlockList();

  constructor(allowHosts: readonly string[] = []) {
    for (const raw of allowHosts) {
      const entry = raw
        .trim()
        .toLowerCase()
        .replace(/^\[|\]$/g, '');
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
    return !isGloballyReachable(ip) ? { allowed: false, reason: 'blocked_address' } : { allowed: true };
  }

  private isAllowlistedAddress(ip: string): boolean {
    const family = isIP(ip);
    if (family === 4) return this.allowed.check(ip, 'ipv4');
    const v4 = embeddedIPv4(ip);
    return this.allowed.check(ip, 'ipv6') || (v4 !== undefined && this.allowed.check(v4, 'ipv4'));
  }
}

/** Lower-case, without IPv6 brackets or a trailing dot. */
export function normalizeHost(host: string): string {
  return host
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
}
