import fc from 'fast-check';
import { ClaimFacts, FINAL, GRACE_MARGIN_MS, mustNotCall, RefreshEvent, RefreshState, RowNow, step } from './refresh-transition';

/**
 * The refresh machine, property-tested over generated worlds (SECURITY 40 / 45, issue 15): each
 * world fixes what every effect will report (the claim's facts, the call mark, the provider's
 * answer, what each compare-and-set or poll finds), and `run` drives the machine through it.
 */
interface World {
  facts: ClaimFacts;
  unrefreshable: boolean;
  /** The token endpoint could be connected to (before the mark). */
  reachable: boolean;
  marked: { written: boolean; now?: RowNow };
  answer: 'ok' | 'transient' | 'terminal' | 'scope_refused';
  refused: boolean;
  commit: 'stored' | 'missed' | 'failed';
  /** What successive looks at the row find after the commit missed; past the end, the last one with the lease's time out. */
  rows: Array<{ now: RowNow | undefined; timeLeft: boolean }>;
  holdsAnswer: boolean;
  rescue: 'rescued' | 'missed' | 'unknown';
  flag: { written: boolean; now?: RowNow };
  release: { written: boolean; now?: RowNow };
  cleared: boolean;
}

const rowNow: fc.Arbitrary<RowNow> = fc.record({
  status: fc.constantFrom('active' as const, 'needs_reauth' as const, 'revoked' as const, 'refresh_indeterminate' as const),
  moved: fc.boolean(),
  holdsPresented: fc.boolean(),
});
const facts: fc.Arbitrary<ClaimFacts> = fc.record({
  rotation: fc.constantFrom('never' as const, 'always' as const, 'optional' as const),
  reuseGraceSeconds: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3600 })),
  callAgeMs: fc.option(fc.integer({ min: 0, max: 3_600_000 }), { nil: null }),
  late: fc.boolean(),
  stopping: fc.boolean(),
  nothingToKeep: fc.boolean(),
});
const write = fc.record({ written: fc.boolean(), now: fc.option(rowNow, { nil: undefined }) });
const world: fc.Arbitrary<World> = fc.record({
  facts,
  unrefreshable: fc.boolean(),
  reachable: fc.boolean(),
  marked: write,
  answer: fc.constantFrom('ok' as const, 'transient' as const, 'terminal' as const, 'scope_refused' as const),
  refused: fc.boolean(),
  commit: fc.constantFrom('stored' as const, 'missed' as const, 'failed' as const),
  rows: fc.array(fc.record({ now: fc.option(rowNow, { nil: undefined }), timeLeft: fc.boolean() }), { maxLength: 6 }),
  holdsAnswer: fc.boolean(),
  rescue: fc.constantFrom('rescued' as const, 'missed' as const, 'unknown' as const),
  flag: write,
  release: write,
  cleared: fc.boolean(),
});
/** A world where the provider was reached and answered ok, with no reason not to call. */
const answeredOk = world.map((w) => ({
  ...w,
  unrefreshable: false,
  reachable: true,
  facts: { ...w.facts, callAgeMs: null, late: false, stopping: false, nothingToKeep: false },
  marked: { written: true },
  answer: 'ok' as const,
}));

interface Trace {
  states: RefreshState[];
  events: RefreshEvent[];
}

/** Drives one refresh through `w` to a final state. */
function run(w: World): Trace {
  const states: RefreshState[] = [{ at: 'claimed', facts: w.facts }];
  const events: RefreshEvent[] = [];
  let looked = 0;
  const look = (): RefreshEvent => {
    const r = w.rows[looked++] ?? { now: w.rows.at(-1)?.now, timeLeft: false };
    return { on: 'row', ...r };
  };
  const eventFor = (s: RefreshState): RefreshEvent => {
    switch (s.at) {
      case 'claimed':
        return w.unrefreshable ? { on: 'unrefreshable' } : { on: 'decide' };
      case 'calling':
        return w.reachable ? { on: 'call_marked', ...w.marked } : { on: 'unreachable' };
      case 'called':
        return { on: 'answer', kind: w.answer, refused: w.refused };
      case 'committing':
        return w.commit === 'missed' ? look() : { on: 'commit', result: w.commit };
      case 'checking':
        return { on: 'checked', holdsAnswer: w.holdsAnswer };
      case 'rescuing':
        return w.rescue === 'rescued' ? { on: 'rescued' } : w.rescue === 'unknown' ? { on: 'unknown' } : look();
      case 'waiting':
        return look();
      case 'flagging':
        return { on: 'flagged', ...w.flag };
      case 'backing_off':
        return { on: 'released', ...w.release };
      case 'clearing':
        return { on: 'cleared', written: w.cleared };
      case 'giving_back':
        return { on: 'released', written: true };
      default:
        throw new Error(`no event for ${s.at}`);
    }
  };
  for (let s = states[0]; !FINAL.has(s.at);) {
    const e = eventFor(s);
    s = step(s, e);
    events.push(e);
    states.push(s);
    if (states.length > 100) throw new Error(`no end: ${states.map((x) => x.at).join(' → ')}`);
  }
  return { states, events };
}

const end = (t: Trace) => t.states[t.states.length - 1];
const visits = (t: Trace, at: RefreshState['at']) => t.states.some((s) => s.at === at);
const ALL_EVENTS: RefreshEvent[] = [
  { on: 'decide' },
  { on: 'unrefreshable' },
  { on: 'call_marked', written: true },
  { on: 'unreachable' },
  { on: 'answer', kind: 'ok' },
  { on: 'commit', result: 'stored' },
  { on: 'row', now: undefined, timeLeft: false },
  { on: 'checked', holdsAnswer: true },
  { on: 'rescued' },
  { on: 'unknown' },
  { on: 'flagged', written: true },
  { on: 'released', written: true },
  { on: 'cleared', written: true },
];

describe('refresh transition function (issue 15)', () => {
  it('every run ends in a final state, and nothing leaves a final state', () => {
    fc.assert(
      fc.property(world, (w) => {
        const t = run(w);
        expect(FINAL.has(end(t).at)).toBe(true);
        for (const s of t.states.slice(0, -1)) expect(FINAL.has(s.at)).toBe(false);
        for (const e of ALL_EVENTS) expect(() => step(end(t), e)).toThrow();
      }),
    );
  });

  it('no second call on a token that may have rotated, unless the provider never rotates or its grace window covers the retry', () => {
    fc.assert(
      fc.property(world, (w) => {
        const f = w.facts;
        if (visits(run(w), 'called') && f.callAgeMs !== null && f.rotation !== 'never')
          expect(f.callAgeMs + GRACE_MARGIN_MS).toBeLessThan(f.reuseGraceSeconds * 1000);
      }),
    );
  });

  it('SECURITY 45: claimed is not called — a row whose call never started never becomes indeterminate', () => {
    fc.assert(
      fc.property(world, (w) => {
        const t = run({ ...w, facts: { ...w.facts, callAgeMs: null } });
        const e = end(t);
        if (!visits(t, 'called')) expect(e.at).not.toBe('indeterminate');
        // With a call of its own: only when its answer could not be stored.
        if (e.at === 'indeterminate') expect(e.why).toBe('commit_failed');
        expect(t.states.some((s) => s.at === 'flagging' && s.why === 'interrupted')).toBe(false);
      }),
    );
  });

  it('no path loses a rotated token that was received: after an ok answer it is stored, or a newer one stands, or time ran out', () => {
    fc.assert(
      fc.property(answeredOk, (w) => {
        const t = run(w);
        const e = end(t);
        expect(['committed', 'superseded', 'indeterminate']).toContain(e.at);
        // Never given back, backed off or flagged as anything but a commit that could not be stored.
        expect(t.states.some((s) => s.at === 'giving_back' || s.at === 'backing_off')).toBe(false);
        for (const s of t.states) if (s.at === 'flagging') expect(s.why).toBe('commit_failed');
        const seen = t.events.flatMap((x) => (x.on === 'row' ? [x] : []));
        if (e.at === 'superseded')
          // Only once the row showed a newer version that is not flagged (a sibling's or a reconnect's token).
          expect(seen.some((x) => x.now?.moved && x.now.status !== 'refresh_indeterminate')).toBe(true);
        if (e.at === 'indeterminate') {
          expect(e.why).toBe('commit_failed');
          // Given up only when the row is gone or the lease's time is out.
          expect(w.commit === 'failed' || seen.length > 0).toBe(true);
          const last = seen.at(-1);
          if (last) expect(!last.now || !last.timeLeft || t.states.some((s) => s.at === 'rescuing' && s.lastChance)).toBe(true);
        }
      }),
    );
  });

  it('a row still holding the presented token, flagged by a successor, always gets a rescue attempt', () => {
    fc.assert(
      fc.property(answeredOk, (w) => {
        const t = run(w);
        t.events.forEach((x, i) => {
          if (x.on !== 'row' || x.now?.status !== 'refresh_indeterminate' || !x.now.holdsPresented) return;
          const before = t.states[i];
          const after = t.states[i + 1];
          // From a poll or the commit: a rescue; after a missed rescue: look again (or give up when time is out).
          if (before.at !== 'rescuing') expect(after.at).toBe('rescuing');
          else expect(['waiting', 'flagging']).toContain(after.at);
        });
      }),
    );
  });

  it('stopping (SIGTERM), a late row or a lost lease makes no call; nothing is flagged for it', () => {
    fc.assert(
      fc.property(world, (w) => {
        const t = run({ ...w, unrefreshable: false });
        if (mustNotCall(w.facts) || w.facts.nothingToKeep) return;
        if (w.facts.late || w.facts.stopping || (w.reachable && !w.marked.written)) {
          expect(visits(t, 'called')).toBe(false);
          expect(visits(t, 'flagging')).toBe(false);
          expect(['given_back', 'moved_on']).toContain(end(t).at);
        }
      }),
    );
  });

  it('a token endpoint that cannot be reached: no mark, no call, nothing flagged; the token kept, an earlier call still outstanding', () => {
    fc.assert(
      fc.property(world, (w) => {
        const t = run({ ...w, reachable: false, unrefreshable: false, facts: { ...w.facts, nothingToKeep: false } });
        if (!visits(t, 'calling')) return;
        expect(t.events).not.toContainEqual(expect.objectContaining({ on: 'call_marked' }));
        expect(visits(t, 'called')).toBe(false);
        expect(visits(t, 'flagging')).toBe(false);
        expect(visits(t, 'clearing')).toBe(false);
        expect(t.states.find((s) => s.at === 'backing_off')).toEqual({
          at: 'backing_off',
          callSettled: w.facts.callAgeMs === null,
          refused: false,
        });
        expect(end(t)).toEqual({ at: 'transient', callSettled: w.facts.callAgeMs === null, cleared: false });
      }),
    );
  });

  it('a transient answer keeps the token; it settles the call only when no earlier call is outstanding', () => {
    fc.assert(
      fc.property(world, (w) => {
        const t = run({ ...w, answer: 'transient', reachable: true, unrefreshable: false, facts: { ...w.facts, nothingToKeep: false } });
        const e = end(t);
        if (!visits(t, 'called')) return;
        expect(e.at).toBe('transient');
        const off = t.states.find((s) => s.at === 'backing_off');
        expect(off).toEqual({ at: 'backing_off', callSettled: w.facts.callAgeMs === null, refused: w.refused });
        // A flag is cleared only for a refused call, on a row still holding the token it tried.
        if (visits(t, 'clearing')) {
          expect(w.refused && !w.release.written).toBe(true);
          expect(w.release.now).toMatchObject({ status: 'refresh_indeterminate', holdsPresented: true });
        }
      }),
    );
  });

  it('a terminal answer after an interrupted call is indeterminate, never needs_reauth (the interruption may explain it)', () => {
    fc.assert(
      fc.property(world, (w) => {
        const t = run({ ...w, answer: 'terminal', unrefreshable: false, facts: { ...w.facts, nothingToKeep: false } });
        if (!visits(t, 'called')) return;
        const e = end(t);
        if (!w.flag.written) expect(e.at).toBe('moved_on');
        else if (w.facts.callAgeMs !== null) expect(e).toEqual({ at: 'indeterminate', why: 'terminal_after_interruption' });
        else expect(e).toEqual({ at: 'terminal' });
      }),
    );
  });

  it('a status is written only with compare-and-set: when it misses, the row as it stands is left as it is', () => {
    fc.assert(
      fc.property(world, (w) => {
        const t = run({ ...w, flag: { ...w.flag, written: false } });
        t.states.forEach((s, i) => {
          if (s.at === 'flagging' && s.why !== 'commit_failed') {
            const next = t.states[i + 1];
            expect(next).toEqual({ at: 'moved_on', active: w.flag.now?.status === 'active' });
          }
        });
      }),
    );
  });
});
