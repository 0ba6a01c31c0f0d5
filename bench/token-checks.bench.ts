/**
 * The release path's token checks of issue 18 in isolation (CPU per call, in-process, no I/O), to
 * put beside the release benchmark's figures on a machine too loaded to resolve a few percent:
 * - the revocation check (`TokenRevocations.check`) with BENCH_REVOKED (1000) revoked token ids and
 *   a tenth as many cutoffs in its maps, on a token that is not revoked (every release pays this);
 * - a DPoP proof verification (`DpopProofVerifier.verify`: jose `jwtVerify` with the embedded key,
 *   htm/htu/iat/ath checks, thumbprint, the in-memory jti check; the shared Postgres jti insert is
 *   not included: the release benchmark's BENCH_DPOP=1 runs include it).
 * `node -r ./test/support/register-ts.js bench/token-checks.bench.ts`; BENCH_CALLS (20000).
 */
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { DpopProofVerifier, VerifiedToken } from '../libs/auth';
import { loadConfig } from '../libs/config';
import { PgNotifications } from '../libs/db';
import { asTenantId } from '../libs/kernel';
import { TokenRevocations } from '../libs/token-service';
import { BenchDpop } from './release/dpop';

const CALLS = Number(process.env.BENCH_CALLS ?? 20_000);
const REVOKED = Number(process.env.BENCH_REVOKED ?? 1000);
const URL_BASE = 'https://vault.bench.example';

function cpuMicros<T>(n: number, f: (i: number) => T): number {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) f(i);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
}

async function cpuMicrosAsync(n: number, f: (i: number) => Promise<unknown>): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) await f(i);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
}

async function main(): Promise<void> {
  // The revocation list, filled the way notifications fill it (no database needed for the check).
  const revocations = new TokenRevocations({} as DataSource, new PgNotifications({} as DataSource));
  for (let i = 0; i < REVOKED; i++) revocations.applied({ k: 'jti', t: 'acme', n: randomUUID(), at: 2e9 });
  for (let i = 0; i < REVOKED / 20; i++) {
    revocations.applied({ k: 'agent', t: 'acme', n: `agent-${i}`, at: 1e9 });
    revocations.applied({ k: 'subject', t: 'acme', n: `user-${i}`, at: 1e9 });
  }
  const now = Math.floor(Date.now() / 1000);
  const tokens: VerifiedToken[] = Array.from({ length: 1000 }, (_, i) => ({
    issuer: 'https://sts.bench.example',
    tenant: asTenantId('acme'),
    subject: `u${i}`,
    agent: 'mcp-1',
    actorChain: ['mcp-1'],
    scopes: ['connections:openai'],
    jti: randomUUID(),
    expiresAt: now + 3600,
    claims: { iat: now, sub: `u${i}`, act: { sub: 'mcp-1' } },
  }));
  cpuMicros(CALLS, (i) => revocations.check(tokens[i % tokens.length])); // warm-up
  const revocationUs = cpuMicros(CALLS * 10, (i) => revocations.check(tokens[i % tokens.length]));

  const config = loadConfig({ NODE_ENV: 'test', VAULT_PUBLIC_URL: URL_BASE, DATABASE_URL: 'postgres://unused@127.0.0.1/unused' });
  const verifier = new DpopProofVerifier(config);
  const signer = new BenchDpop(URL_BASE);
  const path = '/v1/connections/openai/token';
  const token = 'eyJ.bench.token';
  const proofs = Array.from({ length: CALLS }, () => signer.proof(path, token));
  const expect = { method: 'POST', url: URL_BASE + path, accessToken: token };
  const warm = Array.from({ length: 500 }, () => signer.proof(path, token));
  for (const p of warm) await verifier.verify(p, expect);
  const dpopUs = await cpuMicrosAsync(CALLS, (i) => verifier.verify(proofs[i], expect));
  const signUs = cpuMicros(2000, () => signer.proof(path, token));

  console.log(
    JSON.stringify(
      {
        calls: CALLS,
        revoked_ids: REVOKED,
        cutoffs: 2 * Math.floor(REVOKED / 20),
        revocation_check_us: Math.round(revocationUs * 1000) / 1000,
        dpop_verify_us: Math.round(dpopUs),
        dpop_sign_us_client_side: Math.round(signUs),
      },
      null,
      2,
    ),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
