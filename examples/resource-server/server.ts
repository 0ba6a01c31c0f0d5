import { createHash } from 'node:crypto';
import { createServer, IncomingMessage, Server } from 'node:http';
import { calculateJwkThumbprint, createRemoteJWKSet, EmbeddedJWK, jwtVerify } from 'jose';

type Options = { issuer: string; jwksUrl: string; audience: string; tenant: string; scope: string; port?: number };

/** Your API, accepting the vault's access tokens for it (docs/resources.md): issuer, audience, type, tenant, scope. */
export function startResourceServer(o: Options): Promise<Server> {
  const jwks = createRemoteJWKSet(new URL(o.jwksUrl));
  const server = createServer(async (req, res) => {
    const [, scheme, token = ''] = /^(Bearer|DPoP) (\S+)$/i.exec(req.headers.authorization ?? '') ?? [];
    const verified = await jwtVerify(token, jwks, { issuer: o.issuer, audience: o.audience, typ: 'at+jwt' }).catch(() => undefined);
    const claims = verified?.payload;
    const jkt = (claims?.cnf as { jkt?: string } | undefined)?.jkt;
    // A DPoP-bound token (cnf.jkt) is only good with `Authorization: DPoP` and a proof signed by that key.
    const bound = jkt === undefined ? scheme?.toLowerCase() === 'bearer' : scheme === 'DPoP' && (await dpopHolds(req, token, jkt));
    if (!claims || claims.tid !== o.tenant || !bound)
      return void res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end();
    if (!String(claims.scope).split(' ').includes(o.scope))
      return void res.writeHead(403, { 'www-authenticate': `Bearer error="insufficient_scope", scope="${o.scope}"` }).end();
    const agent = (claims.act as { sub?: string } | undefined)?.sub ?? null;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ user: claims.sub, agent, scope: claims.scope }));
  });
  return new Promise((resolve) => server.listen(o.port ?? 0, '127.0.0.1', () => resolve(server)));
}

/**
 * RFC 9449 §4.3, briefly: the `DPoP` proof is signed by the key its header carries, that key's thumbprint is the token's
 * `cnf.jkt`, and it is for this request (method, URL, `ath`) and fresh. A production server also remembers each proof's
 * `jti` for the `iat` window to refuse replays.
 */
async function dpopHolds(req: IncomingMessage, token: string, jkt: string): Promise<boolean> {
  const proof = req.headers.dpop;
  if (typeof proof !== 'string') return false;
  const p = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', maxTokenAge: 60, algorithms: ['ES256', 'RS256', 'PS256'] }).catch(
    () => undefined,
  );
  if (!p || (await calculateJwkThumbprint(p.protectedHeader.jwk!, 'sha256')) !== jkt) return false;
  // Behind TLS or a proxy, compare with your public URL instead.
  const url = `http://${req.headers.host}${(req.url ?? '/').split('?')[0]}`;
  const ath = createHash('sha256').update(token).digest('base64url');
  return p.payload.htm === req.method && p.payload.htu === url && p.payload.ath === ath;
}

if (require.main === module) {
  const [issuer, audience, tenant, scope] = ['VAULT_PUBLIC_URL', 'RESOURCE', 'TENANT', 'SCOPE'].map((n) => process.env[n] ?? '');
  // Runs until stopped; a failure to listen ends the process with its error.
  void startResourceServer({ issuer, jwksUrl: `${issuer}/.well-known/jwks.json`, audience, tenant, scope, port: 8090 });
}
