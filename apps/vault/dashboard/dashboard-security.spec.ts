import { countRefusals } from './dashboard.service';

const row = (action: string, reason: string | null, issuer: string | null, client: string | null, count: number) => ({
  tenant: 't',
  action,
  reason,
  issuer,
  client,
  count,
});

describe('dashboard security counts', () => {
  it('refused tokens by reason and issuer; only invalid_client exchange refusals, by client', () => {
    const out = countRefusals([
      row('admin.access', 'invalid_token', null, null, 4),
      row('credential.release', 'invalid_token', null, null, 1),
      row('admin.access', 'forbidden', 'https://idp.example', 'mcp-1', 2),
      row('token.exchange', 'invalid_client', null, 'ghost', 3),
      row('token.exchange', 'invalid_client', null, null, 1),
      // The jwt-bearer grants are the token endpoint too.
      row('token.issue', 'invalid_client', null, 'ghost', 2),
      row('token.issue', 'invalid_grant', null, null, 5),
      // A policy refusal at the token endpoint is not a client-authentication failure.
      row('token.exchange', 'invalid_scope', null, 'mcp-1', 9),
    ]);
    expect(out.refusals).toEqual({
      total: 7,
      byReason: [
        { reason: 'invalid_token', count: 5 },
        { reason: 'forbidden', count: 2 },
      ],
      byIssuer: [
        { issuer: '(not verified)', count: 5 },
        { issuer: 'https://idp.example', count: 2 },
      ],
    });
    expect(out.invalidClient).toEqual({
      total: 6,
      byClient: [
        { client: 'ghost', count: 5 },
        { client: '(none given)', count: 1 },
      ],
    });
  });
});
