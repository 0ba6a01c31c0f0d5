import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export type ProviderMode = 'google' | 'rotating' | 'no-expires-in' | 'login';

export interface ProviderOptions {
  mode: ProviderMode;
  clientId?: string;
  clientSecret?: string;
  authMethod?: 'client_secret_basic' | 'client_secret_post';
  redirectUris?: string[];
  accessTokenTtl?: number;
  host?: string;
  /** Roles (the `roles` claim, with the profile scope) per login; logins not named have none. */
  roles?: Record<string, string[]>;
}

export interface ProviderStats {
  authorize: Array<Record<string, string>>;
  /** 200 answers by grant type. */
  token: { authorization_code: number; refresh_token: number; other: number };
  /** POST /token arrivals, error answers by `error` code, answers written. */
  tokenRequests: number;
  tokenErrors: Record<string, number>;
  tokenResponded: number;
  revocation: number;
  faulted: number;
}

export interface Fault {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** A running `server.mjs`: a real oidc-provider in its own process (it is ESM-only; Jest is CommonJS). */
export interface TestProvider {
  url: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
  stats(): Promise<ProviderStats>;
  reset(): Promise<void>;
  /**
   * `latencyMs` delays before processing, `responseDelayMs` after (the grant is used, the answer late);
   * `next` are canned answers, in order.
   */
  faults(f: { latencyMs?: number; responseDelayMs?: number; next?: Fault[] }): Promise<void>;
  close(): Promise<void>;
}

export async function startTestProvider(o: ProviderOptions): Promise<TestProvider> {
  const options = { clientId: 'vault-client', clientSecret: `secret-${Math.random().toString(36).slice(2)}`, ...o };
  const child: ChildProcess = spawn(process.execPath, [join(__dirname, 'server.mjs'), JSON.stringify(options)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const ready = await new Promise<{ url: string; issuer: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`oidc-provider did not start: ${stderr}`)), 15000);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line));
    });
    child.once('exit', (code) => reject(new Error(`oidc-provider exited (${code}): ${stderr}`)));
  });
  const control = async (path: string, body?: unknown) => {
    const res = await fetch(`${ready.url}/__control/${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return res.json();
  };
  return {
    url: ready.url,
    issuer: ready.issuer,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    stats: () => control('stats') as Promise<ProviderStats>,
    reset: async () => void (await control('reset', {})),
    faults: async (f) => void (await control('faults', f)),
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
