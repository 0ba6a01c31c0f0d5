/** The release route as Fastify knows it (its template). */
export const RELEASE_ROUTE = '/v1/connections/:integration/token';

/** The APIs that are rate limited (the token endpoint has its own limiter in libs/token-service). */
export type RouteGroup = 'release' | 'admin';

interface RoutedRequest {
  method?: string;
  routeOptions?: { url?: string };
}

/** Which limited API a request is for, by the route it matched: the contract's paths, so new admin routes are covered too. */
export function routeGroupOf(req: RoutedRequest): RouteGroup | undefined {
  const url = req.routeOptions?.url;
  if (!url) return undefined;
  if (url === RELEASE_ROUTE && req.method === 'POST') return 'release';
  if (url.startsWith('/v1/admin/') || url === '/v1/admin' || url.startsWith('/v1/connect/sessions')) return 'admin';
  return undefined;
}
