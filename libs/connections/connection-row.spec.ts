import { CONNECTION_COLUMN_LIST, ConnectionRow, connectionColumns, summaryOf, toConnection } from './connection-row';

const row = (over: Partial<ConnectionRow> = {}): ConnectionRow => ({
  id: '7d0c7a4e-1111-4c3e-9a53-0d5b2c1f0001',
  tenant: 'acme',
  integration: 'calendar',
  subject: 'alice',
  kind: 'oauth2',
  status: 'active',
  version: '12',
  tk_version: 3,
  dek_wrapped: Buffer.from('dek'),
  access_token_ct: Buffer.from('at'),
  refresh_token_ct: Buffer.from('rt'),
  api_key_ct: null,
  expires_at: new Date('2026-12-01T10:00:00Z'),
  scopes: ['calendar.read'],
  metadata: { instance_url: 'https://x.example' },
  provider_account_id: 'acct-1',
  provider_account_email: 'alice@example.test',
  lease_owner: null,
  lease_expires_at: null,
  next_refresh_at: null,
  last_refresh_at: null,
  last_error_class: null,
  refresh_failures: 2,
  interrupted_owner: null,
  refresh_call_started_at: null,
  token_issued_at: new Date('2026-12-01T09:00:00Z'),
  previous_expires_at: null,
  created_at: new Date('2026-11-01T00:00:00Z'),
  updated_at: new Date('2026-12-01T09:00:00Z'),
  ...over,
});

describe('toConnection (the one mapper of a connections row)', () => {
  it('maps every column, the bigint version (text from pg) to a number', () => {
    const c = toConnection(row());
    expect(c).toMatchObject({
      tenant: 'acme',
      subject: 'alice',
      user: 'alice',
      level: 'user',
      version: 12,
      refreshFailures: 2,
      tkVersion: 3,
      providerAccountId: 'acct-1',
    });
    expect(c.refreshTokenCt?.toString()).toBe('rt');
    expect(c.tokenIssuedAt).toEqual(new Date('2026-12-01T09:00:00Z'));
  });

  it("reads a tenant-level row ('' subject) as having no user, and fills nullable columns with their defaults", () => {
    const c = toConnection(row({ subject: '', scopes: null, metadata: null, refresh_failures: null, token_issued_at: null }));
    expect(c).toMatchObject({
      user: null,
      level: 'tenant',
      subject: '',
      scopes: [],
      metadata: {},
      refreshFailures: 0,
      tokenIssuedAt: null,
    });
  });

  it('leaves the sealed fields and refresh internals out of a summary', () => {
    const summary = summaryOf(toConnection(row({ api_key_ct: Buffer.from('k') })));
    for (const k of [
      'dekWrapped',
      'accessTokenCt',
      'refreshTokenCt',
      'apiKeyCt',
      'tkVersion',
      'tenant',
      'subject',
      'leaseOwner',
      'callStartedAt',
    ])
      expect(summary).not.toHaveProperty(k);
    expect(summary).toMatchObject({ id: row().id, integration: 'calendar', version: 12, scopes: ['calendar.read'] });
  });

  it('selects exactly the columns it maps, qualified when asked', () => {
    expect(Object.keys(row()).sort()).toEqual([...CONNECTION_COLUMN_LIST].sort());
    expect(connectionColumns('c').split(', ')).toEqual(CONNECTION_COLUMN_LIST.map((x) => `c.${x}`));
  });
});
