/** The Key Vault operations the emulator recognises, as recorded in the request log. */
export type Operation =
  'create' | 'get' | 'versions' | 'list' | 'rotate' | 'update' | 'wrapkey' | 'unwrapkey' | 'encrypt' | 'decrypt' | 'sign' | 'unknown';

/**
 * A fault for the next `count` authorized requests (default 1; `Infinity` for "until cleared"),
 * optionally only those of one operation. Faults never apply to the unauthenticated
 * request of the 401 challenge, so tests count exactly the calls they care about.
 *
 * @example
 *   kv.inject({ kind: 'throttle', retryAfterSeconds: 1, count: 2, operation: 'unwrapkey' });
 */
export type Fault = { operation?: Operation; count?: number } & (
  | { kind: 'throttle'; retryAfterSeconds: number }
  | { kind: 'error'; status: number; code?: string; retryAfterSeconds?: number }
  | { kind: 'latency'; ms: number }
  | { kind: 'drop' }
);

interface Armed {
  fault: Fault;
  remaining: number;
}

/** FIFO of armed faults; the first one matching the operation is consumed. */
export class FaultQueue {
  private armed: Armed[] = [];

  add(fault: Fault): void {
    const remaining = fault.count ?? 1;
    if (!(remaining > 0)) throw new Error('fault count must be positive');
    this.armed.push({ fault, remaining });
  }

  clear(): void {
    this.armed = [];
  }

  take(operation: Operation): Fault | undefined {
    const hit = this.armed.find((a) => !a.fault.operation || a.fault.operation === operation);
    if (!hit) return undefined;
    hit.remaining -= 1;
    if (hit.remaining <= 0) this.armed = this.armed.filter((a) => a !== hit);
    return hit.fault;
  }
}
