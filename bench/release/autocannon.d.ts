// autocannon ships no types; this is the part of its programmatic API the release bench uses.
declare module 'autocannon' {
  import { EventEmitter } from 'node:events';
  interface Instance extends EventEmitter, PromiseLike<{ duration: number; errors: number; timeouts: number; non2xx: number }> {}
  function autocannon(options: Record<string, unknown>): Instance;
  export = autocannon;
}
