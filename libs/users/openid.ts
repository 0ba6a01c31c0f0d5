import type * as OpenId from 'openid-client' with { 'resolution-mode': 'import' };
import { ProviderHttpClient } from '../oauth';

/**
 * `openid-client` (v6) is an ES module; this codebase is CommonJS. Node ≥ 20.19 loads it with
 * `require` (require(esm)), and Jest transforms it (jest.config.js), so it is loaded here, once,
 * on first use: processes that never sign a user in never load it.
 */
export type OpenIdClient = typeof OpenId;
export type OpenIdConfiguration = OpenId.Configuration;
let loaded: OpenIdClient | undefined;
export function openIdClient(): OpenIdClient {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (loaded ??= require('openid-client') as OpenIdClient);
}

/**
 * Every request openid-client makes (discovery, JWKS, token) goes through the one provider HTTP
 * client: outbound address policy checked at connect time, no redirects followed, size and time capped.
 */
export function outboundFetch(http: ProviderHttpClient): OpenId.CustomFetch {
  return async (url, options) => {
    const method = options.method.toUpperCase();
    if (method !== 'GET' && method !== 'POST') throw new TypeError(`unexpected ${method} to the OpenID provider`);
    const body = options.body === undefined || options.body === null ? undefined : String(options.body);
    const r = await http.request({ method, url, headers: options.headers, body });
    const headers = new Headers();
    for (const [k, v] of Object.entries(r.headers)) if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
    return new Response(r.status === 204 || r.status === 304 ? null : new Uint8Array(r.body), { status: r.status, headers });
  };
}
