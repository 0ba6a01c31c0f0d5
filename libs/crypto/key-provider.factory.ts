import { VaultConfig } from '../config';
import { reportKeyProviderCall, secondsSince } from '../observability';
import { AzureKeyProvider } from './azure-key-provider';
import { KeyProvider } from './key-provider';
import { LocalKeyProvider } from './local-key-provider';

export function createKeyProvider(config: VaultConfig): KeyProvider {
  const kp = config.keyProvider;
  return timed(kp.kind === 'local' ? new LocalKeyProvider(kp.kekFile) : new AzureKeyProvider(kp));
}

/** The operations that may reach Key Vault, timed for /metrics. */
const TIMED = new Set<PropertyKey>(['wrap', 'unwrap', 'refresh', 'health', 'rotate']);

/**
 * The provider with its Key Vault operations reported (libs/observability) as they settle.
 * A Proxy rather than a wrapper class: optional members stay exactly as the provider has them,
 * and every method runs with the provider itself as `this`.
 */
function timed(provider: KeyProvider): KeyProvider {
  const proxy: KeyProvider = new Proxy(provider, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      if (!TIMED.has(prop)) return value.bind(target);
      return async (...args: unknown[]) => {
        const started = performance.now();
        const report = (outcome: 'ok' | 'error') =>
          reportKeyProviderCall(() => ({
            source: proxy,
            provider: target.kind,
            operation: String(prop),
            outcome,
            seconds: secondsSince(started),
          }));
        try {
          const result: unknown = await value.apply(target, args);
          report('ok');
          return result;
        } catch (err) {
          report('error');
          throw err;
        }
      };
    },
  });
  return proxy;
}
