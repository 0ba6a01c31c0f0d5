import { ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { JwtAlgorithm, TrustedIssuer } from '../../../libs/config';

export interface IdpUser {
  tid: string;
  roles?: string[];
  groups?: string[];
}

export interface IdpOptions {
  /** The resource (RFC 8707) the users' access tokens are for: the vault's audience. */
  audience: string;
  users: Record<string, IdpUser>;
  algorithm?: 'RS256' | 'ES256';
  /** Lifetime of the tokens `userToken(..., { shortLived: true })` returns. */
  shortTtlSeconds?: number;
}

/**
 * A real OpenID provider (oidc-provider) in a child process (it is ESM-only; Jest runs
 * CommonJS). `userToken` runs the authorization-code flow with PKCE and a resource
 * indicator over HTTP, the way a web app would, and returns the JWT access token.
 */
export class TestIdp {
  private constructor(
    private readonly child: ChildProcess,
    readonly issuer: string,
    readonly jwksUri: string,
    readonly algorithm: JwtAlgorithm,
    private readonly redirectUri: string,
    readonly audience: string,
  ) {}

  static async start(options: IdpOptions): Promise<TestIdp> {
    const child = spawn(process.execPath, [join(__dirname, 'idp.mjs')], {
      env: { ...process.env, IDP_OPTIONS: JSON.stringify(options) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const line = await new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout! });
      const timer = setTimeout(() => reject(new Error(`idp did not start: ${stderr}`)), 15_000);
      rl.once('line', (l) => (clearTimeout(timer), resolve(l)));
      child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`idp exited (${code}): ${stderr}`))));
    });
    const info = JSON.parse(line) as { issuer: string; jwks_uri: string; algorithm: JwtAlgorithm; redirect_uri: string };
    return new TestIdp(child, info.issuer, info.jwks_uri, info.algorithm, info.redirect_uri, options.audience);
  }

  /** The TRUSTED_ISSUERS entry for this provider (keys by jwks_uri, as in production). */
  trustedIssuer(extra: Partial<TrustedIssuer> = {}): TrustedIssuer {
    return { issuer: this.issuer, jwks_uri: this.jwksUri, algorithms: [this.algorithm], tenant_claim: 'tid', ...extra };
  }

  /** A user's access token for the vault, through a scripted authorization-code flow. */
  async userToken(user: string, opts: { shortLived?: boolean } = {}): Promise<string> {
    const clientId = opts.shortLived ? 'short-lived-app' : 'app';
    const verifier = randomBytes(32).toString('base64url');
    const auth = new URL('/auth', this.issuer);
    auth.search = new URLSearchParams({
      client_id: clientId,
      response_type: 'code',
      redirect_uri: this.redirectUri,
      scope: 'vault',
      resource: this.audience,
      login_hint: user,
      state: randomBytes(8).toString('hex'),
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    }).toString();

    const jar = new Map<string, string>();
    let url = auth.toString();
    for (let hops = 0; hops < 10; hops++) {
      const res = await fetch(url, { redirect: 'manual', headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } });
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const i = pair.indexOf('=');
        jar.set(pair.slice(0, i), pair.slice(i + 1));
      }
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || !location)
        throw new Error(`idp authorization flow stopped at ${res.status}: ${await res.text()}`);
      const next = new URL(location, url);
      if (next.toString().startsWith(this.redirectUri)) {
        const code = next.searchParams.get('code');
        if (!code) throw new Error(`idp refused: ${next.searchParams.get('error')} ${next.searchParams.get('error_description')}`);
        return this.redeem(clientId, code, verifier);
      }
      url = next.toString();
    }
    throw new Error('idp authorization flow did not finish');
  }

  private async redeem(clientId: string, code: string, verifier: string): Promise<string> {
    const res = await fetch(new URL('/token', this.issuer), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: this.redirectUri,
        client_id: clientId,
        code_verifier: verifier,
        resource: this.audience,
      }),
    });
    const body = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
    if (!res.ok || !body.access_token) throw new Error(`idp token endpoint: ${res.status} ${body.error} ${body.error_description}`);
    return body.access_token;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}
