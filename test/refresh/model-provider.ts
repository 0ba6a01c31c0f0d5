import { Secret } from '../../libs/kernel';
import type { OAuthClient, ParsedGrant } from '../../libs/oauth';
import { ProviderError } from '../../libs/oauth';

/**
 * An OAuth provider's token endpoint as a model, in memory: the one test double of the refresh
 * state machine test (SECURITY 40), at the edge we do not own. Each grant is a family of refresh
 * tokens. With `rotation: 'always'` every refresh rotates the token and presenting one that was
 * already rotated away revokes the whole family (oidc-provider's rotating mode, OAuth 2.1 §6.1);
 * with `'never'` the token stays the same (Google) and a refresh answers without one.
 *
 * Calls are not answered by themselves: each waits, as a deferred promise, until the test answers
 * it (`answer`), so the generated commands choose the interleaving. Nothing is processed before
 * the answer: the provider's state changes at the moment it answers (or, for `lost`, answers
 * into the void).
 */
export type Rotation = 'always' | 'never';

/**
 * - `ok`: processes the refresh (the family's state decides: a new token, or invalid_grant) and answers;
 * - `lost`: processes it, but the answer never arrives and the caller crashes;
 * - `transient`: a 503, nothing processed;
 * - `invalid_grant`: the user revoked the grant at the provider: the family dies, the answer is terminal.
 */
export type AnswerKind = 'ok' | 'lost' | 'transient' | 'invalid_grant';

export interface Family {
  id: number;
  /** Every refresh token of the family, oldest first; the last one is the only valid one. */
  tokens: string[];
  revoked: null | 'reuse' | 'injected';
  /** Who received the current token from a refresh (the caller id), null for the grant's first token. */
  holder: number | null;
}

interface PendingCall {
  caller: number;
  token: string;
  resolve(g: ParsedGrant): void;
  reject(e: unknown): void;
}

export class ModelProvider {
  readonly families: Family[] = [];
  private readonly byToken = new Map<string, Family>();
  private readonly pending = new Map<number, PendingCall[]>();
  /** Refresh calls that presented a token the family had already rotated away. */
  readonly reuses: Array<{ caller: number; family: number }> = [];
  readonly trace: string[] = [];
  private seq = 0;

  constructor(
    readonly rotation: Rotation,
    private readonly tag: string,
  ) {}

  /** A new grant (the user connects or reconnects): a new family; its first refresh token. */
  grant(): {
    accessToken: Secret;
    refreshToken: Secret;
    expiresAt: Date;
    refreshTokenExpiresAt: null;
    scopes: string[];
    metadata: Record<string, unknown>;
  } {
    const f: Family = { id: this.families.length, tokens: [], revoked: null, holder: null };
    this.families.push(f);
    const rt = this.newToken(f);
    this.trace.push(`grant F${f.id}`);
    return {
      accessToken: Secret.of(this.access()),
      refreshToken: Secret.of(rt),
      expiresAt: hourFromNow(),
      refreshTokenExpiresAt: null,
      scopes: ['read'],
      metadata: {},
    };
  }

  get currentFamily(): Family {
    return this.families[this.families.length - 1];
  }

  familyOf(token: string | null | undefined): Family | undefined {
    return token ? this.byToken.get(token) : undefined;
  }

  current(f: Family): string {
    return f.tokens[f.tokens.length - 1];
  }

  /** Would the provider accept this refresh token now? */
  accepts(token: string | null | undefined): boolean {
    const f = this.familyOf(token);
    return !!f && f.revoked === null && this.current(f) === token;
  }

  hasPending(caller: number): boolean {
    return (this.pending.get(caller)?.length ?? 0) > 0;
  }

  /**
   * The token endpoint as the refresher `caller` sees it (the refresher opens a refresh, then sends
   * it: the connection always opens; nothing reaches the model before `send`).
   */
  client(caller: number, crashed: () => boolean): OAuthClient {
    const openRefresh = async (_p: unknown, _app: unknown, refreshToken: Secret) => ({
      send: () => refresh(refreshToken),
      close: () => undefined,
    });
    const refresh = (refreshToken: Secret): Promise<ParsedGrant> => {
      // A crashed process sends nothing.
      if (crashed()) return new Promise(() => undefined);
      return new Promise<ParsedGrant>((resolve, reject) => {
        const list = this.pending.get(caller) ?? [];
        list.push({ caller, token: refreshToken.reveal(), resolve, reject });
        this.pending.set(caller, list);
      });
    };
    return { openRefresh } as unknown as OAuthClient;
  }

  /**
   * Answers the oldest pending call of `caller`. Returns what was delivered: the new refresh token
   * the caller now holds in memory (rotation), or null; undefined when there was no call.
   */
  answer(caller: number, kind: AnswerKind): { delivered: string | null } | undefined {
    const call = this.pending.get(caller)?.shift();
    if (!call) return undefined;
    const f = this.byToken.get(call.token);
    const name = f ? `F${f.id}` : 'F?';
    if (kind === 'transient') {
      this.trace.push(`#${caller} 503 (${name})`);
      call.reject(new ProviderError('transient', 'temporarily_unavailable', 503));
      return { delivered: null };
    }
    if (kind === 'invalid_grant') {
      if (f && !f.revoked) f.revoked = 'injected';
      this.trace.push(`#${caller} invalid_grant injected: ${name} revoked`);
      call.reject(new ProviderError('terminal', 'invalid_grant', 400));
      return { delivered: null };
    }
    const outcome = this.process(call.caller, call.token, f);
    this.trace.push(`#${caller} ${kind} ${name}: ${outcome.error ?? (outcome.rotated ? 'rotated' : 'refreshed')}`);
    if (kind === 'lost') return { delivered: null }; // processed; the answer never arrives
    if (outcome.error) call.reject(new ProviderError('terminal', outcome.error, 400));
    else call.resolve(this.parsed(outcome.rotated));
    return { delivered: outcome.rotated };
  }

  /** The caller crashed: its calls never resume, and were never processed. */
  drop(caller: number): void {
    this.pending.delete(caller);
  }

  private process(caller: number, token: string, f: Family | undefined): { error?: string; rotated: string | null } {
    if (!f || f.revoked) return { error: 'invalid_grant', rotated: null };
    if (this.current(f) !== token) {
      // Reuse of a rotated-away refresh token: the whole family is revoked.
      f.revoked = 'reuse';
      this.reuses.push({ caller, family: f.id });
      return { error: 'invalid_grant', rotated: null };
    }
    if (this.rotation === 'never') return { rotated: null };
    const next = this.newToken(f);
    f.holder = caller;
    return { rotated: next };
  }

  private parsed(refresh: string | null): ParsedGrant {
    return {
      accessToken: Secret.of(this.access()),
      refreshToken: refresh === null ? null : Secret.of(refresh),
      tokenType: 'Bearer',
      expiresAt: hourFromNow(),
      refreshTokenExpiresAt: null,
      scopes: ['read'],
      metadata: {},
      identity: { subject: null, email: null },
    };
  }

  private newToken(f: Family): string {
    const t = `rt-${this.tag}-F${f.id}-${f.tokens.length}`;
    f.tokens.push(t);
    this.byToken.set(t, f);
    return t;
  }

  private access(): string {
    return `at-${this.tag}-${++this.seq}`;
  }
}

function hourFromNow(): Date {
  return new Date(Date.now() + 3_600_000);
}
