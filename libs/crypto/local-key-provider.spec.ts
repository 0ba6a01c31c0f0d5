import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyUnwrapError } from './key-provider';
import { LocalKeyProvider } from './local-key-provider';

/** Two processes on one KEK file: the API, and the CLI or a replica that rotates the KEK. */
describe('LocalKeyProvider shared by processes', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'local-kek-'));
    file = join(dir, 'kek.json');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('unwraps a key wrapped under a KEK version another process added after this one read the file', async () => {
    const api = new LocalKeyProvider(file);
    await api.init();
    const cli = new LocalKeyProvider(file);
    await cli.init();
    const newVersion = await cli.rotate();
    const wrapped = await cli.wrap(Buffer.from('tenant key'));
    expect(wrapped.keyId).toBe(newVersion);
    expect(api.currentKeyId()).not.toBe(newVersion);

    await expect(api.unwrap(wrapped.keyId, wrapped.wrapped)).resolves.toEqual(Buffer.from('tenant key'));
    expect(api.currentKeyId()).toBe(newVersion);
  });

  it('a version the file does not have, or bytes that do not open, still do not unwrap', async () => {
    const api = new LocalKeyProvider(file);
    await api.init();
    const wrapped = await api.wrap(Buffer.from('tenant key'));
    await expect(api.unwrap('local:kek/00000000000000000000000000000000', wrapped.wrapped)).rejects.toBeInstanceOf(KeyUnwrapError);
    await expect(api.unwrap('azure:other', wrapped.wrapped)).rejects.toBeInstanceOf(KeyUnwrapError);
    const tampered = Buffer.from(wrapped.wrapped);
    tampered[tampered.length - 1] ^= 1;
    await expect(api.unwrap(wrapped.keyId, tampered)).rejects.toThrow();
    await expect(api.health()).resolves.toBeUndefined();
  });
});
