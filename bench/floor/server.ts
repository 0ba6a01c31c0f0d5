/**
 * The floor of the release benchmark: the least a release can cost on this machine, with no
 * framework. `POST /v1/connections/{integration}/token`: bearer → JWT verified with node:crypto
 * (claims cached until exp) → scope check → one SELECT of the connection row → AES-256-GCM
 * unwrap of the DEK under the cached tenant key → decrypt the field → audit event committed
 * (group commit, keyed hash chain) → JSON, no-store. No policy, agent or integration lookups,
 * no metrics, no logs, no rate limits: those are the vault's overhead the ratio shows.
 *
 * Configuration (from the benchmark, which seeded the same data shape in the floor's database):
 * PORT, DATABASE_URL, FLOOR_POOL_SIZE, FLOOR_ISSUER (JSON: issuer, audience, jwk, skewSeconds),
 * FLOOR_TENANT_KEY (hex), FLOOR_TENANT_KEY_VERSION, FLOOR_MAC_KEY (hex).
 */
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { Pool } from 'pg';
import { blobOf, fieldAad, schemeOf } from '../../libs/crypto/aad-scheme';
import { context, open } from '../../libs/crypto/aead';
import type { TenantId } from '../../libs/kernel';
import { FloorAudit } from './audit';
import { FloorVerifier } from './jwt';

const env = process.env;
const pool = new Pool({ connectionString: env.DATABASE_URL, max: Number(env.FLOOR_POOL_SIZE ?? 20), options: '-c search_path=vault' });
// An idle pooled client whose backend dies emits 'error' on the pool; the pool drops it (as the vault's does).
pool.on('error', () => undefined);
const verifier = new FloorVerifier(JSON.parse(env.FLOOR_ISSUER!));
const audit = new FloorAudit(pool, Buffer.from(env.FLOOR_MAC_KEY!, 'hex'));
const tk = { version: Number(env.FLOOR_TENANT_KEY_VERSION), key: Buffer.from(env.FLOOR_TENANT_KEY!, 'hex') };
const ROUTE = /^\/v1\/connections\/([A-Za-z0-9._-]{1,64})\/token$/;
const SELECT =
  `SELECT id, version, status, tk_version, dek_wrapped, api_key_ct FROM connections WHERE tenant = $1 AND ` +
  `integration = $2 AND subject = $3`;

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    pragma: 'no-cache',
  });
  res.end(text);
}

async function release(req: IncomingMessage, res: ServerResponse, integration: string): Promise<void> {
  const auth = req.headers.authorization;
  // BENCH_DPOP runs send `DPoP <token>` with a proof; the floor does no DPoP (the vault's cost of it is what is measured).
  const claims = auth?.startsWith('Bearer ') || auth?.startsWith('DPoP ') ? verifier.verify(auth.slice(auth.indexOf(' ') + 1)) : undefined;
  if (!claims) return send(res, 401, { code: 'invalid_token' });
  if (!claims.scopes.includes(`connections:${integration}`)) return send(res, 403, { code: 'scope_missing' });
  const row = (await pool.query(SELECT, [claims.tenant, integration, claims.subject])).rows[0];
  if (!row || row.status !== 'active') return send(res, 404, { code: 'connection_not_found' });
  if (row.tk_version !== tk.version) return send(res, 500, { code: 'internal_error' });
  const dek = open(tk.key, row.dek_wrapped.subarray(5), context('dek', claims.tenant, 'connections', row.id, tk.version));
  const ref = { tenant: claims.tenant as TenantId, table: 'connections', id: row.id, bind: { subject: claims.subject, integration } };
  const secret = open(dek, blobOf(row.api_key_ct, schemeOf(row.api_key_ct)), fieldAad(ref, 'api_key', schemeOf(row.api_key_ct)));
  dek.fill(0);
  try {
    await audit.record({
      tenant: claims.tenant,
      agent: claims.agent,
      subject: claims.subject,
      integration,
      details: { connection: row.id, version: Number(row.version), jti: claims.jti },
    });
    send(res, 200, { integration, type: 'api_key', api_key: secret.toString('utf8') });
  } finally {
    secret.fill(0);
  }
}

const server = createServer((req, res) => {
  // Like the vault, the body (none here) is read before answering.
  req.resume();
  req.once('end', () => {
    const m = req.method === 'POST' ? ROUTE.exec(req.url ?? '') : null;
    if (m) {
      release(req, res, m[1]).catch(() => send(res, 503, { code: 'unavailable' }));
    } else if (req.url === '/readyz') {
      pool.query('SELECT 1').then(
        () => send(res, 200, { status: 'ready' }),
        () => send(res, 503, { status: 'not ready' }),
      );
    } else send(res, 404, { code: 'not_found' });
  });
});
server.keepAliveTimeout = 72_000;
server.listen(Number(env.PORT), '127.0.0.1');
process.once('SIGTERM', () => server.close(() => void pool.end().then(() => process.exit(0))));
