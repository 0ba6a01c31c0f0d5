import type { Operation } from './faults';
import { decrypt, encrypt, keyBundle, keyItem, KeyStore, KeyType, KeyVaultError } from './keys';
import { signDigest } from './signing';

/** What a request path means in the Key Vault keys API. */
export interface Route {
  operation: Operation;
  keyName?: string;
  version?: string;
}

const NAME_RE = /^[0-9a-zA-Z-]{1,127}$/;
const CRYPTO_OPS = new Set(['wrapkey', 'unwrapkey', 'encrypt', 'decrypt', 'sign']);

/** Maps `METHOD /keys/...` to an operation; `/keys/{name}/` (empty version, as the SDK sends it) is the current version. */
export function parseRoute(method: string, pathname: string): Route {
  const parts = pathname.replace(/\/+$/, '').split('/').slice(1).map(decodeURIComponent);
  if (parts[0] !== 'keys') return { operation: 'unknown' };
  const [, keyName, second, third] = parts;
  if (parts.length === 1) return { operation: method === 'GET' ? 'list' : 'unknown' };
  if (parts.length === 2) return { operation: method === 'GET' ? 'get' : 'unknown', keyName };
  if (parts.length === 3) {
    if (method === 'POST' && second === 'create') return { operation: 'create', keyName };
    if (method === 'POST' && second === 'rotate') return { operation: 'rotate', keyName };
    if (method === 'GET' && second === 'versions') return { operation: 'versions', keyName };
    if (method === 'GET') return { operation: 'get', keyName, version: second };
    if (method === 'PATCH') return { operation: 'update', keyName, version: second };
  }
  if (parts.length === 4 && method === 'POST' && CRYPTO_OPS.has(third)) {
    return { operation: third as Operation, keyName, version: second };
  }
  return { operation: 'unknown', keyName };
}

/** The JSON answer for an authorized request. Throws `KeyVaultError` for error answers. */
export async function handleRoute(store: KeyStore, route: Route, body: Record<string, unknown>, vaultUrl: string): Promise<object> {
  const { operation, keyName = '', version } = route;
  if (operation === 'unknown') throw new KeyVaultError(400, 'BadParameter', 'Operation not supported by the emulator.');
  if (operation !== 'list' && !NAME_RE.test(keyName)) throw new KeyVaultError(400, 'BadParameter', 'Invalid key name.');
  switch (operation) {
    case 'list':
      return { value: store.currentVersions().map((k) => keyItem(vaultUrl, k, false)), nextLink: null };
    case 'versions':
      return { value: store.versions(keyName).map((k) => keyItem(vaultUrl, k, true)), nextLink: null };
    case 'get':
      return keyBundle(vaultUrl, store.get(keyName, version));
    case 'create': {
      const attrs = (body.attributes ?? {}) as { enabled?: boolean };
      const key = await store.create(keyName, {
        kty: body.kty as KeyType,
        keySize: body.key_size === undefined ? undefined : Number(body.key_size),
        crv: body.crv as 'P-256' | undefined,
        keyOps: Array.isArray(body.key_ops) ? (body.key_ops as string[]) : undefined,
        enabled: attrs.enabled,
      });
      return keyBundle(vaultUrl, key);
    }
    case 'rotate':
      return keyBundle(vaultUrl, await store.rotate(keyName));
    case 'update': {
      const attrs = (body.attributes ?? {}) as { enabled?: boolean };
      const keyOps = Array.isArray(body.key_ops) ? (body.key_ops as string[]) : undefined;
      return keyBundle(vaultUrl, store.update(keyName, version!, { enabled: attrs.enabled, keyOps }));
    }
    default:
      return cryptoOperation(store, route, body, vaultUrl);
  }
}

const OP_NAMES: Record<string, string> = {
  wrapkey: 'wrapKey',
  unwrapkey: 'unwrapKey',
  encrypt: 'encrypt',
  decrypt: 'decrypt',
  sign: 'sign',
};

function cryptoOperation(store: KeyStore, route: Route, body: Record<string, unknown>, vaultUrl: string): object {
  const key = store.get(route.keyName!, route.version);
  const opName = OP_NAMES[route.operation];
  if (!key.enabled) throw new KeyVaultError(403, 'Forbidden', `Operation ${opName} is not allowed on a disabled key.`);
  if (!key.keyOps.includes(opName)) throw new KeyVaultError(403, 'Forbidden', `Operation ${opName} is not permitted on this key.`);
  if (typeof body.value !== 'string' || !/^[A-Za-z0-9_-]*$/.test(body.value)) {
    throw new KeyVaultError(400, 'BadParameter', 'Property value must be base64url.');
  }
  const input = Buffer.from(body.value, 'base64url');
  // `sign` answers like the others: { kid, value } (value: the signature, base64url).
  if (route.operation === 'sign')
    return {
      kid: `${vaultUrl}/keys/${key.name}/${key.version}`,
      value: signDigest(body.alg, key.privateKey, key.kty, input).toString('base64url'),
    };
  if (key.kty.startsWith('EC')) throw new KeyVaultError(400, 'BadParameter', `Operation ${opName} is not supported for EC keys.`);
  const out =
    route.operation === 'wrapkey' || route.operation === 'encrypt' ? encrypt(key, body.alg, input) : decrypt(key, body.alg, input);
  return { kid: `${vaultUrl}/keys/${key.name}/${key.version}`, value: out.toString('base64url') };
}
