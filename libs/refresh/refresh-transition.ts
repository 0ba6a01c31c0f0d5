/**
 * The refresh protocol of one claimed connection as a pure transition function (issue 15):
 *
 *   claimed ──call──► called ──ok──► committed | superseded (a newer version stands)
 *      │                 ├──transient──► transient (token kept, backoff)
 *      │                 └──terminal───► terminal (needs_reauth) | indeterminate (an earlier call was outstanding)
 *      ├──flag──► indeterminate (a call that may have rotated the token is outstanding; no second call)
 *      └──give back──► given_back (no call made: stopping, too late in the lease, lease lost)
 *
 * No I/O: ConnectionRefresher (the orchestrator) reads the row, asks `step` what to do next, does
 * it (mark the call, call the provider, commit) and feeds the outcome back. Property-tested in
 * refresh-transition.spec.ts; the real interleavings are in test/refresh/state-machine.test.ts.
 */
export type Rotation = 'never' | 'always' | 'optional';

/** What the claim found out about the row and the provider. */
export interface ClaimFacts {
  rotation: Rotation;
  /** The provider's reuse grace window (0: strict reuse detection). */
  reuseGraceSeconds: number;
  /** Age of the outstanding call by the database clock; null when no call is outstanding (claimed ≠ called). */
  callAgeMs: number | null;
  /** The lease would run out during the call (a batch row reached late). */
  late: boolean;
  /** The process is shutting down (SIGTERM): start no call. */
  stopping: boolean;
}

export type RefreshState =
  | { at: 'claimed'; facts: ClaimFacts }
  | { at: 'calling'; predecessorCall: boolean }
  | { at: 'called'; predecessorCall: boolean }
  | { at: 'committed' }
  /** A newer version stands (a sibling committed, the user reconnected): this answer is not needed. */
  | { at: 'superseded' }
  | { at: 'transient'; callSettled: boolean }
  | { at: 'terminal' }
  | { at: 'indeterminate'; why: 'interrupted' | 'terminal_after_interruption' | 'commit_failed' }
  | { at: 'given_back' };

export type RefreshEvent =
  | { on: 'decide' }
  /** The one write before the call: false when the lease or the row moved on. */
  | { on: 'call_marked'; ok: boolean }
  | { on: 'answer'; kind: 'ok' | 'transient' | 'terminal' }
  /** `moved_on`: the compare-and-set found a newer version (a sibling's or a rescue's state stands). */
  | { on: 'commit'; result: 'stored' | 'moved_on' | 'failed' };

/** A retry within a reuse grace window must reach the provider before the window closes. */
export const GRACE_MARGIN_MS = 2000;

export const FINAL = new Set<RefreshState['at']>(['committed', 'superseded', 'transient', 'terminal', 'indeterminate', 'given_back']);

/** May the token have rotated at the provider without the row knowing, and is a second call unsafe? */
export function mustNotCall(f: Pick<ClaimFacts, 'rotation' | 'reuseGraceSeconds' | 'callAgeMs'>): boolean {
  if (f.callAgeMs === null || f.rotation === 'never') return false;
  const graceMs = f.reuseGraceSeconds * 1000;
  return !(graceMs > 0 && f.callAgeMs + GRACE_MARGIN_MS < graceMs);
}

/** The next state; an event that does not apply to a state is a programming error. */
export function step(s: RefreshState, e: RefreshEvent): RefreshState {
  switch (s.at) {
    case 'claimed':
      if (e.on !== 'decide') break;
      if (mustNotCall(s.facts)) return { at: 'indeterminate', why: 'interrupted' };
      if (s.facts.late || s.facts.stopping) return { at: 'given_back' };
      return { at: 'calling', predecessorCall: s.facts.callAgeMs !== null };
    case 'calling':
      if (e.on !== 'call_marked') break;
      return e.ok ? { at: 'called', predecessorCall: s.predecessorCall } : { at: 'given_back' };
    case 'called':
      if (e.on === 'answer') {
        if (e.kind === 'ok') return s; // the commit decides
        if (e.kind === 'transient') return { at: 'transient', callSettled: !s.predecessorCall };
        return s.predecessorCall ? { at: 'indeterminate', why: 'terminal_after_interruption' } : { at: 'terminal' };
      }
      if (e.on === 'commit') {
        if (e.result === 'stored') return { at: 'committed' };
        if (e.result === 'moved_on') return { at: 'superseded' };
        return { at: 'indeterminate', why: 'commit_failed' };
      }
      break;
    default:
      break;
  }
  throw new Error(`refresh transition: ${e.on} does not apply in ${s.at}`);
}
