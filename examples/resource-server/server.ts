import { createServer, Server } from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';

type Options = { issuer: string; jwksUrl: string; audience: string; tenant: string; scope: string; port?: number };

/** Your API, accepting the vault's access tokens for it (docs/resources.md): issuer, audience, type, tenant, scope. */
export function startResourceServer(o: Options): Promise<Server> {
  const jwks = createRemoteJWKSet(new URL(o.jwksUrl));
  const server = createServer(async (req, res) => {
    const token = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
    const verified = await jwtVerify(token, jwks, { issuer: o.issuer, audience: o.audience, typ: 'at+jwt' }).catch(() => undefined);
    const claims = verified?.payload;
    if (!claims || claims.tid !== o.tenant) return void res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end();
    if (!String(claims.scope).split(' ').includes(o.scope))
      return void res.writeHead(403, { 'www-authenticate': `Bearer error="insufficient_scope", scope="${o.scope}"` }).end();
    const agent = (claims.act as { sub?: string } | undefined)?.sub ?? null;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ user: claims.sub, agent, scope: claims.scope }));
  });
  return new Promise((resolve) => server.listen(o.port ?? 0, '127.0.0.1', () => resolve(server)));
}

if (require.main === module) {
  const [issuer, audience, tenant, scope] = ['VAULT_PUBLIC_URL', 'RESOURCE', 'TENANT', 'SCOPE'].map((n) => process.env[n] ?? '');
  // Runs until stopped; a failure to listen ends the process with its error.
  void startResourceServer({ issuer, jwksUrl: `${issuer}/.well-known/jwks.json`, audience, tenant, scope, port: 8090 });
}
