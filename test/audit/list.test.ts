import { AuditEventView, AuditLog } from '../../libs/audit';
import { asTenantId, DomainError } from '../../libs/kernel';
import { createTestDatabase, TestDatabase } from '../support/database';
import { event, newAuditLog, randomMacKey } from './support';

/** CONTRACT.md `GET /v1/admin/audit`, SECURITY.md 28 (allowlisted filters, injection → 400). */
describe('AuditLog.list', () => {
  let db: TestDatabase;
  let audit: AuditLog;
  const acme = asTenantId('acme');
  const globex = asTenantId('globex');
  let middle: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    audit = newAuditLog(db.ds, randomMacKey());
    // Sequential, so that seq order is the order below.
    await audit.record(
      event('acme', { action: 'credential.release', outcome: 'allowed', agent: 'bot-a', subject: 'alice', integration: 'github' }),
    );
    await audit.record(
      event('acme', {
        action: 'credential.release',
        outcome: 'denied',
        reason: 'policy_denied',
        agent: 'bot-b',
        subject: 'alice',
        integration: 'github',
      }),
    );
    await audit.record(
      event('globex', { action: 'credential.release', outcome: 'allowed', agent: 'bot-a', subject: 'alice', integration: 'github' }),
    );
    await audit.record(
      event('acme', {
        action: 'connection.connect',
        outcome: 'allowed',
        agent: undefined,
        subject: 'bob',
        integration: 'slack',
        details: { scopes: ['chat:write'] },
      }),
    );
    await new Promise((r) => setTimeout(r, 5)); // a strictly later millisecond for the time filter
    middle = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 5));
    for (let i = 0; i < 5; i++)
      await audit.record(
        event('acme', {
          action: 'credential.release',
          outcome: 'error',
          reason: 'unavailable',
          agent: 'bot-a',
          subject: 'carol',
          integration: 'openai',
          details: { i },
        }),
      );
  });
  afterAll(async () => {
    await audit.drain();
    await db.drop();
  });

  it('returns only the tenant’s events, newest first, in the contract’s shape', async () => {
    const { events, next } = await audit.list(acme, {});
    expect(next).toBeUndefined();
    expect(events).toHaveLength(8);
    expect(events.map((e) => e.details.i ?? null).slice(0, 5)).toEqual([4, 3, 2, 1, 0]);
    expect(events.every((e) => !('tenant' in e) && !('seq' in e) && !('hash' in e))).toBe(true);
    expect(events[7]).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      action: 'credential.release',
      outcome: 'allowed',
      reason: null,
      agent: 'bot-a',
      user: 'alice',
      integration: 'github',
      details: {},
    } satisfies Record<keyof AuditEventView, unknown>);

    const other = await audit.list(globex, {});
    expect(other.events).toHaveLength(1);
    expect(new Set(events.map((e) => e.id)).has(other.events[0].id)).toBe(false);
    expect((await audit.list(asTenantId('nobody'), {})).events).toEqual([]);
  });

  it.each<[string, Record<string, string>, number]>([
    ['action', { action: 'connection.connect' }, 1],
    ['outcome', { outcome: 'denied' }, 1],
    ['agent', { agent: 'bot-a' }, 6],
    ['user', { user: 'alice' }, 2],
    ['integration', { integration: 'openai' }, 5],
    ['combined', { user: 'alice', outcome: 'allowed', integration: 'github' }, 1],
    ['no match', { agent: 'bot-z' }, 0],
  ])('filters by %s', async (_what, query, count) => {
    const { events } = await audit.list(acme, query);
    expect(events).toHaveLength(count);
  });

  it('filters by time: since inclusive, until exclusive', async () => {
    expect((await audit.list(acme, { since: middle })).events.map((e) => e.outcome)).toEqual(Array(5).fill('error'));
    expect((await audit.list(acme, { until: middle })).events).toHaveLength(3);
    expect((await audit.list(acme, { since: '2000-01-01T00:00:00Z', until: '2000-01-02T00:00:00+02:00' })).events).toEqual([]);
  });

  it('pages with an opaque cursor, without gaps or repeats', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    const sizes: number[] = [];
    do {
      const page = await audit.list(acme, { limit: '3', ...(cursor ? { cursor } : {}) });
      sizes.push(page.events.length);
      seen.push(...page.events.map((e) => e.id));
      cursor = page.next;
      if (cursor) expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    } while (cursor);
    expect(sizes).toEqual([3, 3, 2]);
    expect(seen).toEqual((await audit.list(acme, { limit: 200 })).events.map((e) => e.id));
    // Filters apply across pages too.
    const first = await audit.list(acme, { integration: 'openai', limit: 4 });
    const second = await audit.list(acme, { integration: 'openai', limit: 4, cursor: first.next! });
    expect([first.events.length, second.events.length, second.next]).toEqual([4, 1, undefined]);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['an injection in outcome', { outcome: "' OR 1=1 --" }, 'outcome'],
    ['an injection in agent', { agent: "x' OR '1'='1" }, 'agent'],
    ['an injection in user', { user: 'alice; DROP TABLE audit_events' }, 'user'],
    ['an injection in action', { action: "credential.release' --" }, 'action'],
    ['an unknown parameter', { tenant: 'globex' }, 'tenant'],
    ['a sort parameter', { sort: 'seq desc' }, 'sort'],
    ['a repeated parameter', { agent: ['bot-a', 'bot-b'] }, 'agent'],
    ['an object', { agent: { $ne: 1 } }, 'agent'],
    ['limit 0', { limit: '0' }, 'limit'],
    ['limit 201', { limit: 201 }, 'limit'],
    ['a non-numeric limit', { limit: '10; --' }, 'limit'],
    ['a non-ISO date', { since: 'yesterday' }, 'since'],
    ['an impossible date', { until: '2026-02-30T00:00:00Z' }, 'until'],
    ['a date without zone', { since: '2026-01-01T00:00:00' }, 'since'],
    ['since after until', { since: '2026-02-01T00:00:00Z', until: '2026-01-01T00:00:00Z' }, 'until'],
    ['a garbage cursor', { cursor: "' OR 1=1 --" }, 'cursor'],
    ['a forged cursor', { cursor: Buffer.from('s:1 OR 1=1').toString('base64url') }, 'cursor'],
    ['an empty value', { integration: '' }, 'integration'],
  ])('refuses %s with validation_failed (400) naming the field, not the value', async (_what, query, field) => {
    const err = await audit.list(acme, query).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DomainError);
    const e = err as DomainError;
    expect(e).toMatchObject({ code: 'validation_failed', status: 400 });
    expect(e.details.extra?.errors).toEqual(expect.arrayContaining([{ field, message: expect.any(String) }]));
    for (const v of Object.values(query))
      if (typeof v === 'string' && v.length > 3) expect(JSON.stringify([e.message, e.details])).not.toContain(v);
  });

  it('reports every bad parameter at once', async () => {
    const err = (await audit.list(acme, { outcome: 'x', limit: '0', foo: '1' }).catch((e: unknown) => e)) as DomainError;
    expect((err.details.extra?.errors as { field: string }[]).map((e) => e.field).sort()).toEqual(['foo', 'limit', 'outcome']);
  });
});
