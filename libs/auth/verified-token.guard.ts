import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { DomainError } from '../kernel';
import { invalidToken, toInvalidToken } from './auth-errors';
import { accessTokenOf } from './bearer';
import { DpopProofVerifier } from './dpop';
import { setPrincipal } from './principal';
import { AUTH_REJECTION_SINK, AuthRejection, AuthRejectionSink } from './rejection-sink';
import { TokenVerifier } from './token-verifier';
import { VerifiedToken } from './verified-token';

export interface HttpRequest {
  method?: string;
  url?: string;
  headers: Record<string, string | string[] | undefined>;
  routeOptions?: { url?: string }; // Fastify
  route?: { path?: string }; // Express
}

/**
 * Verifies the bearer token, lets the subclass authorize it, and puts it on the request
 * for `@Principal()`. Every rejection is reported to the sink (`AUTH_REJECTION_SINK`, required) before it propagates.
 */
@Injectable()
export abstract class VerifiedTokenGuard implements CanActivate {
  constructor(
    private readonly verifier: TokenVerifier,
    @Inject(AUTH_REJECTION_SINK) private readonly sink: AuthRejectionSink,
    private readonly dpop: DpopProofVerifier,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    await this.authenticate(context.switchToHttp().getRequest<HttpRequest>());
    return true;
  }

  /**
   * What `canActivate` does, for a route served outside Nest's pipeline (the release route is a
   * plain Fastify route): verify, authorize, report a rejection to the sink, put the token on the
   * request. Resolves to the token, or rejects with the `DomainError` to answer.
   */
  authenticate(request: HttpRequest): Promise<VerifiedToken> {
    const token = this.authenticateNow(request);
    return token instanceof Promise ? token : Promise.resolve(token);
  }

  /**
   * `authenticate` without a promise in the usual case — a Bearer token verified before (cached)
   * that passes — the token itself; otherwise `authenticate`'s promise. Same checks, same order.
   */
  authenticateNow(request: HttpRequest): VerifiedToken | Promise<VerifiedToken> {
    let token: VerifiedToken | undefined;
    try {
      const presented = accessTokenOf(request.headers.authorization);
      if (!presented) throw invalidToken('a bearer token is required');
      token = this.verifier.cachedClaims(presented.token);
      if (token === undefined || presented.scheme === 'DPoP' || token.claims.cnf !== undefined) {
        return this.verifyAndAuthorize(request, presented, token);
      }
      // Revocation (in memory): a refusal attributed to the verified token.
      this.verifier.checkStatus(token);
      this.authorize(token);
    } catch (err) {
      return this.refuse(err, token, request);
    }
    setPrincipal(request, token);
    return token;
  }

  /** The rest of `authenticateNow` when the token must be verified or a DPoP proof checked. */
  private async verifyAndAuthorize(
    request: HttpRequest,
    presented: { scheme: 'Bearer' | 'DPoP'; token: string },
    cached: VerifiedToken | undefined,
  ): Promise<VerifiedToken> {
    let token = cached;
    try {
      token ??= await this.verifier.verifyClaims(presented.token);
      // Revocation (in memory) and the DPoP sender constraint: refusals attributed to the verified token.
      this.verifier.checkStatus(token);
      if (presented.scheme === 'DPoP' || token.claims.cnf !== undefined)
        await this.dpop.checkPresentation(presented, token.claims, {
          method: request.method,
          url: request.url,
          proof: request.headers.dpop,
        });
      this.authorize(token);
    } catch (err) {
      return this.refuse(err, token, request);
    }
    setPrincipal(request, token);
    return token;
  }

  /** Reports the rejection, then rejects with it. A failing sink fails the request with its own error: no unaudited rejection. */
  private async refuse(err: unknown, token: VerifiedToken | undefined, request: HttpRequest): Promise<never> {
    const error = toInvalidToken(err);
    await this.sink.rejected(rejectionOf(error, token, request));
    throw error;
  }

  /** Throws a `DomainError` (403) when the verified token may not make this call. */
  protected abstract authorize(token: VerifiedToken): void;
}

function rejectionOf(error: DomainError, token: VerifiedToken | undefined, request: HttpRequest): AuthRejection {
  const path = request.routeOptions?.url ?? request.route?.path ?? (request.url ?? '').split('?')[0];
  const event: AuthRejection = { code: error.code, reason: error.detail, route: `${request.method ?? ''} ${path}`.trim() };
  const cause = error.details.extra?.reason;
  if (typeof cause === 'string') event.cause = cause;
  if (token) {
    event.issuer = token.issuer;
    event.tenant = token.tenant;
    event.subject = token.subject;
    if (token.agent !== undefined) event.agent = token.agent;
  }
  return event;
}
