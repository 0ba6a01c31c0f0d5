/**
 * The IANA special-purpose address registries as data, so the classifier and its property test
 * read the same table. `global` rows are those the registry marks "Globally Reachable: True"
 * (they only matter where they sit inside a wider non-global row); `embeds` rows are translation
 * forms (reachability "N/A" or True) whose embedded IPv4 address decides instead.
 *
 * Sources (checked 2026-12): https://www.iana.org/assignments/iana-ipv4-special-registry and
 * https://www.iana.org/assignments/iana-ipv6-special-registry; multicast (224.0.0.0/4, ff00::/8,
 * RFC 5771 / RFC 4291) and deprecated site-local (fec0::/10, RFC 3879) are added: never a provider.
 */
export type Reachability = 'global' | 'not_global' | 'embeds';

export interface SpecialRange {
  prefix: string;
  bits: number;
  name: string;
  reachability: Reachability;
}

const r = (prefix: string, bits: number, name: string, reachability: Reachability = 'not_global'): SpecialRange => ({
  prefix,
  bits,
  name,
  reachability,
});

export const IPV4_SPECIAL: readonly SpecialRange[] = [
  r('0.0.0.0', 8, '"This network" (RFC 791)'),
  r('10.0.0.0', 8, 'Private-Use (RFC 1918)'),
  r('100.64.0.0', 10, 'Shared Address Space (RFC 6598)'),
  r('127.0.0.0', 8, 'Loopback (RFC 1122)'),
  r('169.254.0.0', 16, 'Link Local (RFC 3927)'),
  r('172.16.0.0', 12, 'Private-Use (RFC 1918)'),
  r('192.0.0.0', 24, 'IETF Protocol Assignments (RFC 6890)'),
  r('192.0.0.9', 32, 'Port Control Protocol Anycast (RFC 7723)', 'global'),
  r('192.0.0.10', 32, 'TURN Anycast (RFC 8155)', 'global'),
  r('192.0.2.0', 24, 'Documentation TEST-NET-1 (RFC 5737)'),
  r('192.88.99.0', 24, 'Deprecated 6to4 Relay Anycast (RFC 7526)'),
  r('192.168.0.0', 16, 'Private-Use (RFC 1918)'),
  r('198.18.0.0', 15, 'Benchmarking (RFC 2544)'),
  r('198.51.100.0', 24, 'Documentation TEST-NET-2 (RFC 5737)'),
  r('203.0.113.0', 24, 'Documentation TEST-NET-3 (RFC 5737)'),
  r('224.0.0.0', 4, 'Multicast (RFC 5771)'),
  r('240.0.0.0', 4, 'Reserved (RFC 1112); includes Limited Broadcast 255.255.255.255/32 (RFC 919)'),
];

export const IPV6_SPECIAL: readonly SpecialRange[] = [
  r('::', 128, 'Unspecified Address (RFC 4291)'),
  r('::1', 128, 'Loopback Address (RFC 4291)'),
  // Deprecated (RFC 4291 §2.5.5.1), routed nowhere: refused whatever it embeds.
  r('::', 96, 'IPv4-Compatible, deprecated (RFC 4291)'),
  r('::ffff:0:0', 96, 'IPv4-mapped Address (RFC 4291)', 'embeds'),
  r('::ffff:0:0:0', 96, 'IPv4-translated, SIIT (RFC 2765)', 'embeds'),
  r('64:ff9b::', 96, 'IPv4-IPv6 Translation (RFC 6052)', 'embeds'),
  r('64:ff9b:1::', 48, 'Local-use IPv4/IPv6 Translation (RFC 8215)'),
  r('100::', 64, 'Discard-Only Address Block (RFC 6666)'),
  r('100:0:0:1::', 64, 'Dummy IPv6 Prefix (RFC 9780)'),
  r('2001::', 23, 'IETF Protocol Assignments (RFC 2928)'),
  r('2001::', 32, 'TEREDO (RFC 4380, RFC 8190)', 'embeds'),
  r('2001:1::1', 128, 'Port Control Protocol Anycast (RFC 7723)', 'global'),
  r('2001:1::2', 128, 'TURN Anycast (RFC 8155)', 'global'),
  r('2001:1::3', 128, 'DNS-SD Service Registration Protocol Anycast (RFC 9665)', 'global'),
  r('2001:2::', 48, 'Benchmarking (RFC 5180)'),
  r('2001:3::', 32, 'AMT (RFC 7450)', 'global'),
  r('2001:4:112::', 48, 'AS112-v6 (RFC 7535)', 'global'),
  r('2001:10::', 28, 'Deprecated (previously ORCHID) (RFC 4843)'),
  r('2001:20::', 28, 'ORCHIDv2 (RFC 7343)', 'global'),
  r('2001:30::', 28, 'Drone Remote ID Protocol Entity Tags (RFC 9374)', 'global'),
  r('2001:db8::', 32, 'Documentation (RFC 3849)'),
  r('2002::', 16, '6to4 (RFC 3056)', 'embeds'),
  r('3fff::', 20, 'Documentation (RFC 9637)'),
  r('5f00::', 16, 'Segment Routing SIDs (RFC 9602)'),
  r('fc00::', 7, 'Unique-Local (RFC 4193, RFC 8190)'),
  r('fe80::', 10, 'Link-Local Unicast (RFC 4291)'),
  r('fec0::', 10, 'Site-Local, deprecated (RFC 3879)'),
  r('ff00::', 8, 'Multicast (RFC 4291)'),
];

/** IPv6 outside global unicast (2000::/3, RFC 4291 §2.4) is unassigned or special: only the rows above may reach anything there. */
export const IPV6_GLOBAL_UNICAST = r('2000::', 3, 'Global Unicast (RFC 4291)', 'global');
