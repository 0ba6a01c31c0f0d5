import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { VerifiedToken } from './verified-token';

const PRINCIPAL = Symbol('vault.principal');

/** The verified token a guard put on this request, if any. */
export function principalOf(request: object): VerifiedToken | undefined {
  return (request as Record<symbol, VerifiedToken | undefined>)[PRINCIPAL];
}

export function setPrincipal(request: object, token: VerifiedToken): void {
  (request as Record<symbol, VerifiedToken>)[PRINCIPAL] = token;
}

/**
 * The `VerifiedToken` of the request. Throws (a 500) on a route without an auth guard,
 * so a forgotten guard fails closed instead of yielding an anonymous principal.
 *
 * @example
 *   @UseGuards(AgentTokenGuard) @Post(':integration/token')
 *   release(@Principal() principal: VerifiedToken) { ... }
 */
export const Principal = createParamDecorator((_data: unknown, ctx: ExecutionContext): VerifiedToken => {
  const token = principalOf(ctx.switchToHttp().getRequest<object>());
  if (!token) throw new Error('@Principal() used on a route without AgentTokenGuard or AdminGuard');
  return token;
});
