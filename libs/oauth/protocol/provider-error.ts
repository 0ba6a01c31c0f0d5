/**
 * What a provider said, classified (PROVIDERS.md): `terminal` means the user must reconnect
 * (only these may set `needs_reauth`); `transient` means try again later and keep the token;
 * `blocked` means the outbound policy refused the address (an operator matter, never the user's).
 * The message carries the sanitized code only, never the provider's description (it can echo input).
 */
export type ProviderErrorClass = 'terminal' | 'transient' | 'blocked';

export class ProviderError extends Error {
  constructor(
    readonly errorClass: ProviderErrorClass,
    /** A short identifier: the provider's `error` code when it is one, else ours. */
    readonly code: string,
    readonly status: number | null = null,
    readonly retryAfterSeconds?: number,
  ) {
    super(`provider error ${code} (${errorClass})`);
    this.name = 'ProviderError';
  }
}

/** RFC 6749 §5.2 codes that no retry will fix. */
export const TERMINAL_ERRORS = ['invalid_grant', 'invalid_client', 'unauthorized_client'];

/** A provider's error code as we store, log and show it: an identifier, or `unknown_error`. */
export function safeCode(value: unknown): string {
  return typeof value === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(value) ? value : 'unknown_error';
}
