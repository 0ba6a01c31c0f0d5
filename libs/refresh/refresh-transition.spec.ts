import fc from 'fast-check';
import { ClaimFacts, FINAL, GRACE_MARGIN_MS, mustNotCall, RefreshEvent, RefreshState, step } from './refresh-transition';

const facts: fc.Arbitrary<ClaimFacts> = fc.record({
  rotation: fc.constantFrom('never' as const, 'always' as const, 'optional' as const),
  reuseGraceSeconds: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3600 })),
  callAgeMs: fc.option(fc.integer({ min: 0, max: 3_600_000 }), { nil: null }),
  late: fc.boolean(),
  stopping: fc.boolean(),
});
const answer = fc.constantFrom('ok' as const, 'transient' as const, 'terminal' as const);
const commit = fc.constantFrom('stored' as const, 'moved_on' as const, 'failed' as const);

/** Drives one refresh to its end with generated outcomes; returns every state it went through. */
function run(f: ClaimFacts, marked: boolean, a: 'ok' | 'transient' | 'terminal', c: 'stored' | 'moved_on' | 'failed'): RefreshState[] {
  const trace: RefreshState[] = [{ at: 'claimed', facts: f }];
  const events: RefreshEvent[] = [
    { on: 'decide' },
    { on: 'call_marked', ok: marked },
    { on: 'answer', kind: a },
    { on: 'commit', result: c },
  ];
  for (const e of events) {
    const s = trace[trace.length - 1];
    if (FINAL.has(s.at)) break;
    if (s.at === 'called' && e.on === 'commit' && a !== 'ok') break;
    trace.push(step(s, e));
  }
  return trace;
}

describe('refresh transition function (issue 15)', () => {
  const all = fc.tuple(facts, fc.boolean(), answer, commit);

  it('every run ends in a final state, and nothing leaves a final state', () => {
    fc.assert(
      fc.property(all, ([f, m, a, c]) => {
        const trace = run(f, m, a, c);
        expect(FINAL.has(trace[trace.length - 1].at)).toBe(true);
        for (const s of trace.slice(0, -1)) expect(FINAL.has(s.at)).toBe(false);
        for (const s of trace.filter((x) => FINAL.has(x.at)))
          for (const e of [{ on: 'decide' }, { on: 'answer', kind: 'ok' }] as RefreshEvent[]) expect(() => step(s, e)).toThrow();
      }),
    );
  });

  it('no second call on a token that may have rotated, unless the provider never rotates or its grace window covers the retry', () => {
    fc.assert(
      fc.property(all, ([f, m, a, c]) => {
        const called = run(f, m, a, c).some((s) => s.at === 'called');
        if (called && f.callAgeMs !== null && f.rotation !== 'never')
          expect(f.callAgeMs + GRACE_MARGIN_MS).toBeLessThan(f.reuseGraceSeconds * 1000);
      }),
    );
  });

  it('SECURITY 45: claimed is not called — a row with no outstanding call is never flagged before a call of its own', () => {
    fc.assert(
      fc.property(all, ([f, m, a, c]) => {
        const trace = run({ ...f, callAgeMs: null }, m, a, c);
        expect(trace[1].at).not.toBe('indeterminate');
        const end = trace[trace.length - 1];
        if (end.at === 'indeterminate') expect(end.why).toBe('commit_failed'); // only after our own call, whose answer could not be stored
      }),
    );
  });

  it('stopping (SIGTERM), a late row or a lost lease makes no call; nothing is flagged for it', () => {
    fc.assert(
      fc.property(all, ([f, m, a, c]) => {
        const trace = run(f, m, a, c);
        if (!mustNotCall(f) && (f.late || f.stopping || !m)) {
          expect(trace.some((s) => s.at === 'called')).toBe(false);
          expect(trace[trace.length - 1].at).toBe('given_back');
        }
      }),
    );
  });

  it('a transient answer keeps the token; it settles the call only when no earlier call is outstanding', () => {
    fc.assert(
      fc.property(facts, commit, (f, c) => {
        const end = run(f, true, 'transient', c).at(-1)!;
        if (end.at === 'transient') expect(end.callSettled).toBe(f.callAgeMs === null);
        // Never terminal or committed; flagged only by the takeover rule, before any call of its own.
        if (end.at === 'indeterminate') expect(end.why).toBe('interrupted');
        else expect(['transient', 'given_back']).toContain(end.at);
      }),
    );
  });

  it('a terminal answer after an interrupted call is indeterminate, never needs_reauth (the interruption may explain it)', () => {
    fc.assert(
      fc.property(facts, commit, (f, c) => {
        const end = run(f, true, 'terminal', c).at(-1)!;
        if (f.callAgeMs !== null && end.at !== 'given_back' && !(end.at === 'indeterminate' && end.why === 'interrupted'))
          expect(end).toEqual({ at: 'indeterminate', why: 'terminal_after_interruption' });
        if (f.callAgeMs === null && !f.late && !f.stopping) expect(end).toEqual({ at: 'terminal' });
      }),
    );
  });

  it('an ok answer ends committed, superseded, or — only if it could not be stored — indeterminate', () => {
    fc.assert(
      fc.property(facts, commit, (f, c) => {
        const trace = run(f, true, 'ok', c);
        if (!trace.some((s) => s.at === 'called')) return;
        expect(trace.at(-1)).toEqual(
          c === 'stored' ? { at: 'committed' } : c === 'moved_on' ? { at: 'superseded' } : { at: 'indeterminate', why: 'commit_failed' },
        );
      }),
    );
  });
});
