import { embeddedIPv4, OutboundPolicy } from './address-policy';

/** SECURITY 18: which addresses a provider call may reach. */
describe('outbound address policy', () => {
  const none = new OutboundPolicy([]);

  it.each([
    '127.0.0.1',
    '127.255.255.254',
    '10.0.0.1',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.169.254',
    '169.254.0.1',
    '100.64.0.1',
    '0.0.0.0',
    '224.0.0.1',
    '255.255.255.255',
    '198.18.0.1',
    '192.0.2.1',
    '::1',
    '::',
    'fe80::1',
    'fc00::1',
    'fd12:3456::1',
    'ff02::1',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:169.254.169.254',
    '::ffff:a9fe:a9fe',
    '::ffff:10.0.0.1',
    '64:ff9b::7f00:1',
    '64:ff9b::a9fe:a9fe',
    '2002:7f00:1::',
    '2002:a9fe:a9fe::1',
    '::127.0.0.1',
    '[::1]',
    '2001:db8::1',
  ])('%s is blocked', (ip) => {
    expect(none.checkAddress(ip)).toEqual({ allowed: false, reason: 'blocked_address' });
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '172.32.0.1',
    '192.169.0.1',
    '100.128.0.1',
    '2606:4700:4700::1111',
    '2a00:1450:4001:80b::200e',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
  ])('%s is allowed', (ip) => {
    expect(none.checkAddress(ip)).toEqual({ allowed: true });
  });

  it('refuses what is not an address', () => {
    expect(none.checkAddress('localhost')).toEqual({ allowed: false, reason: 'invalid_address' });
  });

  it('reads the IPv4 inside IPv6 forms', () => {
    expect(embeddedIPv4('::ffff:7f00:1')).toBe('127.0.0.1');
    expect(embeddedIPv4('::ffff:169.254.169.254')).toBe('169.254.169.254');
    expect(embeddedIPv4('64:ff9b::a9fe:a9fe')).toBe('169.254.169.254');
    expect(embeddedIPv4('2002:c0a8:101::1')).toBe('192.168.1.1');
    expect(embeddedIPv4('2606:4700::1')).toBeUndefined();
  });

  it('the allowlist takes IPs, CIDRs and exact host names; mapped forms of an allowed IPv4 follow it', () => {
    const p = new OutboundPolicy(['127.0.0.1', '10.1.0.0/16', 'IdP.Corp.Example', '[::1]']);
    expect(p.checkAddress('127.0.0.1')).toEqual({ allowed: true });
    expect(p.checkAddress('::ffff:127.0.0.1')).toEqual({ allowed: true });
    expect(p.checkAddress('127.0.0.2').allowed).toBe(false);
    expect(p.checkAddress('10.1.200.3')).toEqual({ allowed: true });
    expect(p.checkAddress('10.2.0.1').allowed).toBe(false);
    expect(p.checkAddress('::1')).toEqual({ allowed: true });
    expect(p.checkAddress('192.168.0.4', 'idp.corp.example')).toEqual({ allowed: true });
    expect(p.checkAddress('192.168.0.4', 'idp.corp.example.evil')).toEqual({ allowed: false, reason: 'blocked_address' });
    expect(p.allowsPlainHttp('idp.corp.example')).toBe(true);
    expect(p.allowsPlainHttp('127.0.0.1')).toBe(true);
    expect(p.allowsPlainHttp('example.com')).toBe(false);
    expect(() => new OutboundPolicy(['https://x'])).toThrow(/OUTBOUND_ALLOW_HOSTS/);
  });
});
