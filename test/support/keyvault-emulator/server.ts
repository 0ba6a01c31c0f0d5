import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { constantTimeEqual } from '../../../libs/kernel';
import { generateEmulatorTls, EmulatorTls } from './certs';
import { Fault, FaultQueue, Operation } from './faults';
import { CreateKeyOptions, KeyStore, KeyVaultError, KeyVersion } from './keys';
import { handleRoute, parseRoute } from './routes';

export interface KeyVaultEmulatorOptions {
  /** The only bearer token accepted. Random when omitted. */
  token?: string;
  /** Tenant named in the 401 challenge's `authorization` URL. */
  tenantId?: string;
  /** Fixed port; random when omitted. */
  port?: number;
}

/** One request as the emulator saw it. `status` is 0 for a dropped connection. */
export interface RequestLogEntry {
  method: string;
  path: string;
  operation: Operation;
  keyName?: string;
  version?: string;
  apiVersion?: string;
  authorized: boolean;
  status: number;
  /** Arrival time, ms since the epoch. */
  at: number;
}

/** A key version as tests need to refer to it: the versioned id and the version. */
export interface EmulatorKey {
  kid: string;
  name: string;
  version: string;
}

const SERVICE_VERSION = '1.9.2000.1';
const MAX_BODY = 1 << 20;

/**
 * An HTTPS Azure Key Vault (keys API) on loopback, for tests that drive the real
 * `@azure/keyvault-keys` client: real REST shapes, 401 bearer challenge, versions,
 * rotate, RSA-OAEP wrap/unwrap, fault injection and a request log. TLS uses a CA
 * generated at start; trust it through `caPem` / `caFile`, never by disabling checks.
 *
 * @example
 *   const kv = await KeyVaultEmulator.start();
 *   await kv.createKey('kek', { keySize: 3072 });
 *   kv.inject({ kind: 'throttle', retryAfterSeconds: 1, operation: 'unwrapkey' });
 *   // ... KeyClient(kv.url, staticCredential(kv.token), { tlsOptions: { ca: kv.caPem }, disableChallengeResourceVerification: true })
 *   await kv.dispose();
 */
export class KeyVaultEmulator {
  readonly url: string;
  readonly caPem: string;
  private readonly store = new KeyStore();
  private readonly faults = new FaultQueue();
  private log: RequestLogEntry[] = [];
  private server?: Server;

  private constructor(
    private readonly tls: EmulatorTls,
    readonly port: number,
    readonly caFile: string,
    readonly token: string,
    private readonly tenantId: string,
  ) {
    this.url = `https://127.0.0.1:${port}`;
    this.caPem = tls.caPem;
  }

  static async start(opts: KeyVaultEmulatorOptions = {}): Promise<KeyVaultEmulator> {
    const tls = generateEmulatorTls();
    const dir = await mkdtemp(join(tmpdir(), 'kv-emulator-'));
    const caFile = join(dir, 'ca.pem');
    await writeFile(caFile, tls.caPem, { mode: 0o644 });
    const token = opts.token ?? randomBytes(24).toString('base64url');
    const server = await listen(tls, opts.port ?? 0, (req, res) => void emulator.onRequest(req, res).catch(() => res.destroy()));
    const emulator = new KeyVaultEmulator(tls, (server.address() as AddressInfo).port, caFile, token, opts.tenantId ?? randomUUID());
    emulator.server = server;
    return emulator;
  }

  /**
   * The vault's configuration for its azure key provider on this emulator: the key `kek` (unless
   * named), the emulator's CA trusted by file and its bearer token as a static credential.
   */
  vaultEnv(keyName = 'kek'): Record<string, string> {
    return {
      KEY_PROVIDER: 'azure',
      AZURE_KEYVAULT_URL: this.url,
      AZURE_KEYVAULT_KEY_NAME: keyName,
      AZURE_KEYVAULT_CA_FILE: this.caFile,
      AZURE_KEYVAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: 'true',
      AZURE_KEYVAULT_CREDENTIAL: `static:${this.token}`,
    };
  }

  /** A snapshot of the requests since start or the last `resetLog()`. */
  get requestLog(): readonly RequestLogEntry[] {
    return [...this.log];
  }

  resetLog(): void {
    this.log = [];
  }

  inject(fault: Fault): void {
    this.faults.add(fault);
  }

  clearFaults(): void {
    this.faults.clear();
  }

  /** Creates a key (or a new version of it) directly, without HTTP or the log. */
  async createKey(name: string, opts: CreateKeyOptions = {}): Promise<EmulatorKey> {
    return this.describe(await this.store.create(name, opts));
  }

  /** Adds a new current version, like `POST /keys/{name}/rotate`, without HTTP or the log. */
  async rotateKey(name: string): Promise<EmulatorKey> {
    return this.describe(await this.store.rotate(name));
  }

  /** Enables or disables one version directly. */
  setKeyEnabled(name: string, version: string, enabled: boolean): void {
    this.store.update(name, version, { enabled });
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  /** Closes the listener and every open connection: clients see ECONNREFUSED until `restart()`. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  /** Listens again on the same port, with the same CA, keys, token and log. */
  async restart(): Promise<void> {
    if (this.server) return;
    this.server = await listen(this.tls, this.port, (req, res) => void this.onRequest(req, res).catch(() => res.destroy()));
  }

  /** Stops for good and removes the CA file's temporary directory. */
  async dispose(): Promise<void> {
    await this.stop();
    await rm(join(this.caFile, '..'), { recursive: true, force: true });
  }

  private describe(key: KeyVersion): EmulatorKey {
    return { kid: `${this.url}/keys/${key.name}/${key.version}`, name: key.name, version: key.version };
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://emulator.invalid');
    const route = parseRoute(req.method ?? 'GET', url.pathname);
    const entry: RequestLogEntry = {
      method: req.method ?? 'GET',
      path: url.pathname,
      operation: route.operation,
      keyName: route.keyName,
      version: route.version || undefined,
      apiVersion: url.searchParams.get('api-version') ?? undefined,
      authorized: this.isAuthorized(req.headers.authorization),
      status: 0,
      at: Date.now(),
    };
    this.log.push(entry);
    if (!entry.authorized) {
      req.resume();
      return this.challenge(res, entry, req.headers.authorization !== undefined);
    }
    try {
      const body = await readJson(req);
      const fault = this.faults.take(route.operation);
      if (fault?.kind === 'drop') return void req.socket.destroy();
      if (fault?.kind === 'latency') await sleep(fault.ms);
      if (fault?.kind === 'throttle') {
        throw Object.assign(new KeyVaultError(429, 'Throttled', 'Request was not processed because too many requests were received.'), {
          retryAfter: fault.retryAfterSeconds,
        });
      }
      if (fault?.kind === 'error') {
        throw Object.assign(new KeyVaultError(fault.status, fault.code ?? 'InternalServerError', 'Injected fault.'), {
          retryAfter: fault.retryAfterSeconds,
        });
      }
      if (!entry.apiVersion) throw new KeyVaultError(400, 'BadParameter', 'The api-version query parameter is required.');
      const vaultUrl = `https://${req.headers.host ?? this.url.slice('https://'.length)}`;
      send(res, entry, 200, await handleRoute(this.store, route, body, vaultUrl));
    } catch (err) {
      const e = err instanceof KeyVaultError ? err : new KeyVaultError(500, 'InternalServerError', 'Emulator failure.');
      const retryAfter = (err as { retryAfter?: number }).retryAfter;
      const headers: Record<string, string> = retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) };
      send(res, entry, e.status, { error: { code: e.code, message: e.message } }, headers);
    }
  }

  private isAuthorized(header: string | undefined): boolean {
    const m = /^Bearer (\S+)$/.exec(header ?? '');
    return m !== null && constantTimeEqual(m[1], this.token);
  }

  private challenge(res: ServerResponse, entry: RequestLogEntry, hadToken: boolean): void {
    const headers = {
      'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${this.tenantId}", resource="https://vault.azure.net"`,
    };
    const message = hadToken ? 'AKV10032: Invalid issuer or token.' : 'AKV10000: Request is missing a Bearer or PoP token.';
    send(res, entry, 401, { error: { code: 'Unauthorized', message } }, headers);
  }
}

function send(res: ServerResponse, entry: RequestLogEntry, status: number, body: object, headers: Record<string, string> = {}): void {
  entry.status = status;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-cache',
    'x-ms-request-id': randomUUID(),
    'x-ms-keyvault-service-version': SERVICE_VERSION,
    ...headers,
  });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new KeyVaultError(413, 'BadParameter', 'Request body too large.');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  try {
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // fall through to the error below
  }
  throw new KeyVaultError(400, 'BadParameter', 'The request body is not a JSON object.');
}

function listen(tls: EmulatorTls, port: number, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  const server = createServer({ key: tls.keyPem, cert: tls.certPem, minVersion: 'TLSv1.2' }, handler);
  // Clients that reject our CA abort the handshake; that is the expected outcome, not an emulator error.
  server.on('tlsClientError', () => undefined);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
