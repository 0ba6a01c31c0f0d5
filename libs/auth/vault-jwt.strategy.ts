import type { Algorithm } from 'jsonwebtoken';
import { Strategy } from 'passport-jwt';
import { ALLOWED_ALGORITHMS } from '../config';
import { ResolvedKey } from './signing-key';
import { IssuerEntry } from './trusted-issuer.registry';
import { VerifiedToken } from './verified-token';

/** What the strategy authenticates: one raw token, and the issuer its key came from. */
interface TokenCarrier {
  readonly token: string;
  issuer?: IssuerEntry;
}

export interface VaultJwtStrategyOptions {
  /** Undefined: the audience is not checked here (the caller checks it). */
  audience: string | undefined;
  clockSkewSeconds: number;
  resolveKey(raw: string): Promise<ResolvedKey>;
  accept(payload: Record<string, unknown>, issuer: IssuerEntry): VerifiedToken;
}

// The per-issuer allowlist is enforced in resolveKey; this list is only jsonwebtoken's outer bound.
const VERIFIABLE = [...ALLOWED_ALGORITHMS] as Algorithm[];

/**
 * passport-jwt with a `secretOrKeyProvider` that picks issuer and key per token.
 * It is driven by `authenticateToken` rather than registered with the global passport
 * instance, so two Nest apps in one process cannot overwrite each other's strategy.
 */
export class VaultJwtStrategy extends Strategy {
  constructor(options: VaultJwtStrategyOptions) {
    super(
      {
        jwtFromRequest: (carrier: TokenCarrier) => carrier.token,
        secretOrKeyProvider: (carrier: TokenCarrier, raw: string, done) => {
          options.resolveKey(raw).then(
            ({ issuer, key }) => {
              carrier.issuer = issuer;
              // jsonwebtoken takes a KeyObject; the passport-jwt typings only say string | Buffer.
              done(null, key as unknown as Buffer);
            },
            (err: unknown) => done(err),
          );
        },
        algorithms: VERIFIABLE,
        audience: options.audience,
        ignoreExpiration: false,
        jsonWebTokenOptions: { clockTolerance: options.clockSkewSeconds },
        passReqToCallback: true,
      },
      (carrier: TokenCarrier, payload: Record<string, unknown>, done) => {
        try {
          if (!carrier.issuer) throw new Error('verified without a resolved issuer');
          done(null, options.accept(payload, carrier.issuer));
        } catch (err) {
          done(err);
        }
      },
    );
  }
}

type StrategyRequest = Parameters<Strategy['authenticate']>[0];

/** Runs the strategy over one token the way passport.authenticate does, as a promise. */
export function authenticateToken(strategy: VaultJwtStrategy, token: string): Promise<VerifiedToken> {
  return new Promise((resolve, reject) => {
    const attempt = Object.create(strategy) as Strategy;
    attempt.success = (user: VerifiedToken) => resolve(user);
    attempt.fail = (challenge?: unknown) => reject(challenge instanceof Error ? challenge : new Error('authentication failed'));
    attempt.error = (err: unknown) => reject(err);
    attempt.pass = () => reject(new Error('authentication made no decision'));
    attempt.redirect = () => reject(new Error('authentication made no decision'));
    const carrier: TokenCarrier = { token };
    attempt.authenticate(carrier as unknown as StrategyRequest);
  });
}
