/** What a guard reports when it refuses a request. Identity fields only from a verified token. */
export interface AuthRejection {
  /** The error code sent to the client (`invalid_token`, `not_an_agent_token`, `forbidden`). */
  code: string;
  /** The public reason sent to the client. */
  reason: string;
  /** A machine-readable cause when the error has one (`revoked`). */
  cause?: string;
  issuer?: string;
  tenant?: string;
  subject?: string;
  agent?: string;
  /** `METHOD /route/:pattern`, never the query string. */
  route: string;
}

/**
 * Where guards report rejections (the app binds it to the audit log). Awaited before the
 * error propagates; if it throws, the request fails with that error instead (fail closed).
 */
export interface AuthRejectionSink {
  rejected(event: AuthRejection): Promise<void>;
}

/** Injection token for the optional `AuthRejectionSink`. */
export const AUTH_REJECTION_SINK = Symbol('AUTH_REJECTION_SINK');
