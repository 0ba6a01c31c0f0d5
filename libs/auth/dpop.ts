import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { calculateJwkThumbprint, CryptoKey, EmbeddedJWK, errors, FlattenedJWSInput, JWSHeaderParameters, jwtVerify } from 'jose';
import { ALLOWED_ALGORITHMS, VAULT_CONFIG, VaultConfig } from '../config';
import { DomainError } from '../kernel';

/** RFC 9449 §5.1: the algorithms a DPoP proof may be signed with (asymmetric only, as for every token the vault takes). */
export const DPOP_SIGNING_ALGS: readonly string[] = ALLOWED_ALGORITHMS;
/** How old a proof's `iat` may be (the configured clock skew is allowed on top, both ways). */
export const DPOP_PROOF_MAX_AGE_SECONDS = 60;
const JTI = /^[\x21-\x7E]{1,256}$/;
const MAX_PROOF_LENGTH = 8 * 1024;
const MEMORY_ENTRIES = 100_000;
/** Imported proof keys and their thumbprints kept (one per agent instance, typically). */
const KEY_ENTRIES = 1000;

/** What the request says the proof must match. `accessToken`: the token it is presented with (checked with `ath`). */
export interface DpopExpectation {
  method: string;
  /** The URL without query and fragment (RFC 9449 §4.3 item 9). */
  url: string;
  accessToken?: string;
}

/**
 * Remembers proof `jti`s across processes (the token service binds one on Postgres). Resolves
 * false when the `jti` was seen before for this key.
 */
export interface DpopReplayStore {
  use(jkt: string, jti: string, expiresAt: Date): Promise<boolean>;
}

/**
 * Verifies DPoP proofs (RFC 9449 §4.3) with jose: `typ` dpop+jwt, an allowed asymmetric `alg`,
 * the signature by the public `jwk` of the header, `htm`, `htu`, `iat` within the window, `ath`
 * when a token is presented, and the `jti` once per key: first in this process's memory, then
 * in the shared store when one is bound (every replica sees it). Resolves to the key's
 * thumbprint (`jkt`); refuses with `DomainError('invalid_dpop_proof', reason)`.
 */
@Injectable()
export class DpopProofVerifier {
  private readonly seen = new Map<string, number>();
  private readonly keys = new Map<string, { key: CryptoKey }>();
  private readonly thumbprints = new Map<string, string>();
  private shared?: DpopReplayStore;
  private readonly skew: number;

  constructor(@Inject(VAULT_CONFIG) private readonly config: VaultConfig) {
    this.skew = config.clockSkewSeconds;
  }

  /** The replay store every replica shares (bound by the token service at init). */
  useSharedReplayStore(store: DpopReplayStore): void {
    this.shared = store;
  }

  /** The `htu` this vault expects for a request path. */
  urlOf(path: string): string {
    return this.config.publicUrl + path.split('?')[0];
  }

  async verify(proof: string | string[] | undefined, expect: DpopExpectation): Promise<string> {
    if (proof === undefined) throw bad('a DPoP proof (the DPoP header) is required');
    if (typeof proof !== 'string' || proof.length > MAX_PROOF_LENGTH) throw bad('send exactly one DPoP header');
    let payload: Record<string, unknown>;
    let jwk: Record<string, unknown>;
    try {
      const verified = await jwtVerify(proof, (header, token) => this.embeddedKey(header, token), {
        typ: 'dpop+jwt',
        algorithms: [...DPOP_SIGNING_ALGS],
        maxTokenAge: DPOP_PROOF_MAX_AGE_SECONDS,
        clockTolerance: this.skew,
      });
      payload = verified.payload as Record<string, unknown>;
      jwk = verified.protectedHeader.jwk as Record<string, unknown>;
    } catch (err) {
      throw bad(reasonOf(err));
    }
    if (payload.htm !== expect.method) throw bad('the DPoP proof is for another HTTP method (htm)');
    if (typeof payload.htu !== 'string' || withoutQuery(payload.htu) !== expect.url) throw bad('the DPoP proof is for another URL (htu)');
    if (typeof payload.jti !== 'string' || !JTI.test(payload.jti)) throw bad('the DPoP proof needs a jti');
    if (expect.accessToken !== undefined) {
      if (payload.ath === undefined) throw bad('the DPoP proof needs ath (the hash of the access token)');
      if (payload.ath !== createHash('sha256').update(expect.accessToken, 'ascii').digest('base64url'))
        throw bad('the DPoP proof is for another access token (ath)');
    }
    const jkt = await this.thumbprintOf(jwk);
    await this.once(jkt, payload.jti, (payload.iat as number) + DPOP_PROOF_MAX_AGE_SECONDS + this.skew);
    return jkt;
  }

  /**
   * jose's `EmbeddedJWK`, remembered per (alg, jwk): an agent signs every proof with the same key,
   * and importing it again per request costs more than the signature check. Only keys EmbeddedJWK
   * accepted are kept, so every check it makes (public key, `use`, `alg`) still applies.
   */
  private async embeddedKey(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> {
    const id = `${header.alg}.${JSON.stringify(header.jwk)}`;
    const known = this.keys.get(id);
    if (known) return known.key;
    const key = (await EmbeddedJWK(header, token)) as CryptoKey;
    if (this.keys.size >= KEY_ENTRIES) this.keys.delete(this.keys.keys().next().value!);
    this.keys.set(id, { key });
    return key;
  }

  private async thumbprintOf(jwk: Record<string, unknown>): Promise<string> {
    const id = JSON.stringify(jwk);
    const known = this.thumbprints.get(id);
    if (known) return known;
    const jkt = await calculateJwkThumbprint(jwk, 'sha256');
    if (this.thumbprints.size >= KEY_ENTRIES) this.thumbprints.delete(this.thumbprints.keys().next().value!);
    this.thumbprints.set(id, jkt);
    return jkt;
  }

  private async once(jkt: string, jti: string, untilSeconds: number): Promise<void> {
    const key = `${jkt}.${jti}`;
    const now = Date.now();
    const known = this.seen.get(key);
    if (known !== undefined && known > now) throw bad('the DPoP proof was already used (jti)');
    if (this.seen.size >= MEMORY_ENTRIES) this.prune(now);
    this.seen.set(key, untilSeconds * 1000);
    if (this.shared && !(await this.shared.use(jkt, jti, new Date(untilSeconds * 1000))))
      throw bad('the DPoP proof was already used (jti)');
  }

  private prune(now: number): void {
    for (const [k, until] of this.seen) if (until <= now) this.seen.delete(k);
    // Still full of live entries: drop the oldest (the shared store still knows them).
    while (this.seen.size >= MEMORY_ENTRIES) this.seen.delete(this.seen.keys().next().value!);
  }

  /**
   * The sender constraint of a presented token (RFC 9449 §7): a token bound to a key (`cnf.jkt`)
   * only with the DPoP scheme and a proof by that key for this request; an unbound token only
   * as Bearer. Refusals are marked for the `WWW-Authenticate: DPoP` challenge (`isDpopRefusal`).
   */
  async checkPresentation(
    presented: { scheme: 'Bearer' | 'DPoP'; token: string },
    claims: Record<string, unknown>,
    request: { method?: string; url?: string; proof: string | string[] | undefined },
  ): Promise<void> {
    const cnf = claims.cnf as { jkt?: unknown } | undefined;
    const bound = typeof cnf === 'object' && cnf !== null ? cnf.jkt : undefined;
    if (bound === undefined) {
      if (presented.scheme === 'DPoP') throw marked(new DomainError('invalid_token', 'the token is not DPoP-bound: send it as Bearer'));
      return;
    }
    if (typeof bound !== 'string') throw marked(new DomainError('invalid_token', 'token cnf claim is malformed'));
    if (presented.scheme !== 'DPoP')
      throw marked(new DomainError('invalid_token', 'the token is DPoP-bound: send it with the DPoP scheme and a DPoP proof'));
    const jkt = await this.verify(request.proof, {
      method: request.method ?? '',
      url: this.urlOf(request.url ?? ''),
      accessToken: presented.token,
    });
    if (jkt !== bound) throw bad('the DPoP proof is signed by another key than the token is bound to');
  }
}

const DPOP_REFUSALS = new WeakSet<object>();

/** Whether a refusal is about DPoP (answered with a `WWW-Authenticate: DPoP` challenge). */
export function isDpopRefusal(err: unknown): boolean {
  return typeof err === 'object' && err !== null && DPOP_REFUSALS.has(err);
}

function marked(err: DomainError): DomainError {
  DPOP_REFUSALS.add(err);
  return err;
}

function bad(reason: string): DomainError {
  return marked(new DomainError('invalid_dpop_proof', reason));
}

function withoutQuery(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.origin + u.pathname;
  } catch {
    return undefined;
  }
}

/** jose's messages name claims and checks only, but they are mapped to our own words anyway (never echoing input). */
function reasonOf(err: unknown): string {
  if (err instanceof errors.JWTClaimValidationFailed && err.reason === 'missing') return `the DPoP proof needs ${err.claim}`;
  if (err instanceof errors.JWTExpired || (err instanceof errors.JWTClaimValidationFailed && err.claim === 'iat'))
    return 'the DPoP proof iat is outside the accepted window';
  if (err instanceof errors.JWTClaimValidationFailed && err.claim === 'typ') return 'the DPoP proof must have typ dpop+jwt';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'the DPoP proof algorithm is not accepted';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the DPoP proof signature is invalid';
  if (err instanceof errors.JWSInvalid && /jwk/i.test(err.message)) return 'the DPoP proof must carry a public jwk in its header';
  return 'the DPoP proof is malformed';
}
