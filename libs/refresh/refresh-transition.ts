/**
 * The refresh protocol of one claimed connection as a pure transition function (issue 15). Every
 * decision of the protocol is here; ConnectionRefresher (the orchestrator) only performs the effect
 * a state names (a read before the call, the one write before it, the provider call, a
 * compare-and-set) and feeds the outcome back as an event. The diagram is in docs/refresh.md.
 *
 *   claimed ──► calling ──► called ──ok──► committing ──stored──► committed
 *      │            │          │                │ missed: the row as it now stands
 *      │            │          │                ├─ flagged, still holding the presented token ──► rescuing ──► committed
 *      │            │          │                ├─ moved on, active ──► checking ──► committed (a lost reply) | superseded
 *      │            │          │                ├─ moved on, not flagged ──► superseded
 *      │            │          │                └─ otherwise ──► waiting (polls) … out of time ──► flagging ──► indeterminate
 *      │            │          ├─transient──► backing_off ──► transient   (──► clearing, when the call was refused after a takeover)
 *      │            │          └─terminal───► flagging ──► terminal | indeterminate (an earlier call was outstanding) | moved_on
 *      │            ├─lost the lease or the row──► moved_on
 *      │            └─token endpoint unreachable (before the mark: nothing sent)──► backing_off ──► transient
 *      ├─ a call that may have rotated the token is outstanding ──► flagging ──► indeterminate | moved_on
 *      └─ no call (stopping, too late in the lease, nothing to keep) ──► giving_back ──► given_back
 *
 * `calling` opens the connection to the token endpoint, then writes the mark; the request leaves on
 * that connection in `called` (issue 15: the window in which a kill leaves a mark without a request
 * is the mark's reply, not a name lookup, a connect and a TLS handshake as well).
 *
 * No I/O and no clock: time enters as facts (`callAgeMs`, `late`, `timeLeft`). Property-tested in
 * refresh-transition.spec.ts; real interleavings on Postgres in test/refresh/state-machine.test.ts.
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
  /** A narrowing (issue 14) of a row without an access token to keep: refresh it plainly first. */
  nothingToKeep?: boolean;
}

/** A row as a compare-and-set that missed (or a poll) found it, relative to this refresh's claim. */
export interface RowNow {
  status: 'active' | 'needs_reauth' | 'revoked' | 'refresh_indeterminate';
  /** A newer version than the one claimed: somebody else wrote. */
  moved: boolean;
  /** It still holds the refresh token this refresh presented to the provider. */
  holdsPresented: boolean;
}

export type FlagWhy = 'terminal' | 'interrupted' | 'terminal_after_interruption' | 'commit_failed';
export type IndeterminateWhy = Exclude<FlagWhy, 'terminal'>;
export type GiveBackReason = 'no_call' | 'nothing_to_keep' | 'scope_refused';

export type RefreshState =
  | { at: 'claimed'; facts: ClaimFacts }
  /**
   * The connection to the token endpoint is opened, then the one write before the call
   * (`refresh_call_started_at`): from here on a successor must assume the token may rotate.
   */
  | { at: 'calling'; predecessorCall: boolean }
  | { at: 'called'; predecessorCall: boolean }
  /** The answer is only in memory: compare-and-set on the claimed version, retried through faults while the lease lasts. */
  | { at: 'committing' }
  /** The commit missed and the row moved on, active: did an attempt whose reply was lost store this very answer? */
  | { at: 'checking' }
  /**
   * Flagged after a takeover while still holding the token this refresh presented: this answer is the
   * latest; store it. `lastChance`: the lease's time is out; if this attempt does not land, give up.
   */
  | { at: 'rescuing'; lastChance: boolean }
  /** The commit missed and nobody stored a newer token: wait (polling) for the successor to flag the row, while time is left. */
  | { at: 'waiting' }
  /** A status written with compare-and-set on the claimed version. */
  | { at: 'flagging'; status: 'needs_reauth' | 'refresh_indeterminate'; why: FlagWhy }
  /** A transient answer: the lease goes back, the token kept, the next attempt after a backoff. */
  | { at: 'backing_off'; callSettled: boolean; refused: boolean }
  /** The call was refused outright (429/503: not processed) after a successor flagged the row: nothing rotated. */
  | { at: 'clearing' }
  /** The lease goes back with the row untouched. */
  | { at: 'giving_back'; callSettled: boolean; reason: GiveBackReason }
  // Final states.
  | { at: 'committed'; how: 'stored' | 'lost_reply' | 'rescued' }
  /** A newer version stands (a sibling committed, the user reconnected): this answer is not needed. */
  | { at: 'superseded' }
  /** The row moved on before this refresh wrote anything: its state stands (usable only if active). */
  | { at: 'moved_on'; active: boolean }
  | { at: 'transient'; callSettled: boolean; cleared: boolean }
  | { at: 'terminal' }
  | { at: 'indeterminate'; why: IndeterminateWhy }
  | { at: 'given_back'; reason: GiveBackReason };

export type RefreshEvent =
  | { on: 'decide' }
  /** Before any call: the integration or its app is gone, or the row holds no refresh token. */
  | { on: 'unrefreshable' }
  | { on: 'call_marked'; written: boolean; now?: RowNow }
  /** The token endpoint could not be reached (name, address check, connect, TLS): no mark was written, nothing was sent. */
  | { on: 'unreachable' }
  /**
   * `refused`: a 429 or 503, which the provider did not process. `scope_refused`: a narrower scope
   * set refused before any token was issued.
   */
  | { on: 'answer'; kind: 'ok' | 'transient' | 'terminal' | 'scope_refused'; refused?: boolean }
  /** `failed`: faults (database, key provider) outlasted the lease; the row's state is unknown. */
  | { on: 'commit'; result: 'stored' | 'failed' }
  /** The row as a missed compare-and-set returned it, or a poll read it (undefined: gone, or unreadable); `timeLeft`: the lease's. */
  | { on: 'row'; now: RowNow | undefined; timeLeft: boolean }
  | { on: 'checked'; holdsAnswer: boolean }
  | { on: 'rescued' }
  /** A write whose outcome is unknown (it failed): look again. */
  | { on: 'unknown' }
  | { on: 'flagged'; written: boolean; now?: RowNow }
  | { on: 'released'; written: boolean; now?: RowNow }
  | { on: 'cleared'; written: boolean };

/** A retry within a reuse grace window must reach the provider before the window closes. */
export const GRACE_MARGIN_MS = 2000;

export const FINAL = new Set<RefreshState['at']>([
  'committed',
  'superseded',
  'moved_on',
  'transient',
  'terminal',
  'indeterminate',
  'given_back',
]);

/** May the token have rotated at the provider without the row knowing, and is a second call unsafe? */
export function mustNotCall(f: Pick<ClaimFacts, 'rotation' | 'reuseGraceSeconds' | 'callAgeMs'>): boolean {
  if (f.callAgeMs === null || f.rotation === 'never') return false;
  const graceMs = f.reuseGraceSeconds * 1000;
  return !(graceMs > 0 && f.callAgeMs + GRACE_MARGIN_MS < graceMs);
}

/**
 * Who holds the latest token, after this refresh's commit missed? It holds a provider answer that
 * may carry a rotated refresh token, so it gives up only when a newer token is stored elsewhere, or
 * the row is gone, or the lease's time is out (then the row is flagged for the user to reconnect).
 */
export function afterMiss(now: RowNow | undefined, timeLeft: boolean): RefreshState {
  if (now?.status === 'refresh_indeterminate' && now.holdsPresented) return { at: 'rescuing', lastChance: !timeLeft };
  if (now?.moved && now.status === 'active') return { at: 'checking' };
  if (now?.moved && now.status !== 'refresh_indeterminate') return { at: 'superseded' };
  if (!now || !timeLeft) return COMMIT_FAILED;
  return { at: 'waiting' };
}

const COMMIT_FAILED: RefreshState = { at: 'flagging', status: 'refresh_indeterminate', why: 'commit_failed' };

/** A terminal answer (or none possible) ends the grant, unless an earlier call was outstanding: then the interruption may explain it. */
function endOfGrant(predecessorCall: boolean): RefreshState {
  return predecessorCall
    ? { at: 'flagging', status: 'refresh_indeterminate', why: 'terminal_after_interruption' }
    : { at: 'flagging', status: 'needs_reauth', why: 'terminal' };
}

/** The next state; an event that does not apply to a state is a programming error. */
export function step(s: RefreshState, e: RefreshEvent): RefreshState {
  switch (s.at) {
    case 'claimed': {
      const predecessorCall = s.facts.callAgeMs !== null;
      if (e.on === 'unrefreshable') return endOfGrant(predecessorCall);
      if (e.on !== 'decide') break;
      if (s.facts.nothingToKeep) return { at: 'giving_back', callSettled: false, reason: 'nothing_to_keep' };
      // Only a call that was started can have rotated the token; a claim that never got that far cannot.
      if (mustNotCall(s.facts)) return { at: 'flagging', status: 'refresh_indeterminate', why: 'interrupted' };
      if (s.facts.late || s.facts.stopping) return { at: 'giving_back', callSettled: false, reason: 'no_call' };
      return { at: 'calling', predecessorCall };
    }
    case 'calling':
      // Nothing was sent: like a refused call, it settles nothing but itself (an earlier outstanding call stays outstanding).
      if (e.on === 'unreachable') return { at: 'backing_off', callSettled: !s.predecessorCall, refused: false };
      if (e.on !== 'call_marked') break;
      return e.written ? { at: 'called', predecessorCall: s.predecessorCall } : { at: 'moved_on', active: e.now?.status === 'active' };
    case 'called':
      if (e.on !== 'answer') break;
      if (e.kind === 'ok') return { at: 'committing' };
      // The provider answered our call: it is settled, unless an earlier interrupted call is still outstanding.
      if (e.kind === 'transient') return { at: 'backing_off', callSettled: !s.predecessorCall, refused: e.refused ?? false };
      if (e.kind === 'scope_refused') return { at: 'giving_back', callSettled: !s.predecessorCall, reason: 'scope_refused' };
      return endOfGrant(s.predecessorCall);
    case 'committing':
      if (e.on === 'commit') return e.result === 'stored' ? { at: 'committed', how: 'stored' } : { at: 'waiting' };
      if (e.on === 'row') return afterMiss(e.now, e.timeLeft);
      break;
    case 'checking':
      if (e.on !== 'checked') break;
      return e.holdsAnswer ? { at: 'committed', how: 'lost_reply' } : { at: 'superseded' };
    case 'rescuing':
      if (e.on === 'rescued') return { at: 'committed', how: 'rescued' };
      if (e.on === 'unknown') return s.lastChance ? COMMIT_FAILED : { at: 'waiting' };
      if (e.on === 'row') {
        // Missed, the row still flagged with the presented token (written in between): look again, unless time is out.
        const next = afterMiss(e.now, e.timeLeft);
        if (next.at !== 'rescuing') return next;
        return s.lastChance ? COMMIT_FAILED : { at: 'waiting' };
      }
      break;
    case 'waiting':
      if (e.on !== 'row') break;
      return afterMiss(e.now, e.timeLeft);
    case 'flagging':
      if (e.on !== 'flagged') break;
      // A commit that could not be stored is indeterminate whoever wrote last; any other flag stands only if it was written.
      if (s.why === 'commit_failed') return { at: 'indeterminate', why: 'commit_failed' };
      if (!e.written) return { at: 'moved_on', active: e.now?.status === 'active' };
      return s.why === 'terminal' ? { at: 'terminal' } : { at: 'indeterminate', why: s.why };
    case 'backing_off':
      if (e.on !== 'released') break;
      if (!e.written && s.refused && e.now?.status === 'refresh_indeterminate' && e.now.holdsPresented) return { at: 'clearing' };
      return { at: 'transient', callSettled: s.callSettled, cleared: false };
    case 'clearing':
      if (e.on !== 'cleared') break;
      return { at: 'transient', callSettled: true, cleared: e.written };
    case 'giving_back':
      if (e.on !== 'released') break;
      return { at: 'given_back', reason: s.reason };
    default:
      break;
  }
  throw new Error(`refresh transition: ${e.on} does not apply in ${s.at}`);
}
