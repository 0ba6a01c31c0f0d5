import { DomainError } from '../kernel';
import { FederatedCredential } from './agent.store';

/** Entra allows 20 federated credentials per application; so do we, per agent. */
export const MAX_FEDERATED_CREDENTIALS = 20;
const MAX_AUDIENCES = 10;
const MAX_CLAIMS = 20;
const MAX_ACCEPTED_AUDIENCES = 20;
const MAX_TEXT = 2048;
// eslint-disable-next-line no-control-regex -- refusing controls is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
/** Claims that a credential's issuer/subject/audiences already pin, or that change per token. */
const RESERVED_CLAIMS = new Set(['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'act']);

type FieldError = { field: string; message: string };

/**
 * Checks the identity fields of `PUT /v1/admin/agents/{id}` beyond their JSON shape and returns
 * them normalised (audiences and claims default to empty). Every problem is named by its field.
 */
export function checkIdentityFields(input: { federated_credentials?: unknown[]; accepted_audiences?: unknown[] }): {
  federated_credentials?: FederatedCredential[];
  accepted_audiences?: string[];
} {
  const errors: FieldError[] = [];
  const out: { federated_credentials?: FederatedCredential[]; accepted_audiences?: string[] } = {};
  if (input.federated_credentials !== undefined) {
    if (input.federated_credentials.length > MAX_FEDERATED_CREDENTIALS)
      errors.push({ field: 'federated_credentials', message: `at most ${MAX_FEDERATED_CREDENTIALS} credentials` });
    out.federated_credentials = input.federated_credentials.map((c, i) => credential(c, `federated_credentials.${i}`, errors));
    const keys = out.federated_credentials.map((c) => JSON.stringify([c.issuer, c.subject, [...c.audiences].sort(), sorted(c.claims)]));
    keys.forEach((k, i) => {
      if (keys.indexOf(k) !== i) errors.push({ field: `federated_credentials.${i}`, message: 'repeats an earlier credential' });
    });
  }
  if (input.accepted_audiences !== undefined) {
    if (input.accepted_audiences.length > MAX_ACCEPTED_AUDIENCES)
      errors.push({ field: 'accepted_audiences', message: `at most ${MAX_ACCEPTED_AUDIENCES} audiences` });
    input.accepted_audiences.forEach((a, i) => {
      if (!isText(a)) errors.push({ field: `accepted_audiences.${i}`, message: 'must be a non-empty string without control characters' });
    });
    out.accepted_audiences = [...new Set(input.accepted_audiences.filter(isText))];
  }
  if (errors.length) {
    throw new DomainError('validation_failed', `Invalid request: ${[...new Set(errors.map((e) => e.field))].join(', ')}`, {
      extra: { errors },
    });
  }
  return out;
}

function credential(raw: unknown, field: string, errors: FieldError[]): FederatedCredential {
  const c = (raw !== null && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  if (!isText(c.issuer) || !/^https:\/\/[^\s]+$/.test(c.issuer))
    errors.push({ field: `${field}.issuer`, message: 'must be the https issuer URL of a trusted issuer' });
  if (!isText(c.subject) || c.subject.length > 255)
    errors.push({ field: `${field}.subject`, message: 'must be the exact sub of the assertions (1-255 characters)' });
  const audiences = c.audiences === undefined ? [] : c.audiences;
  if (!Array.isArray(audiences) || audiences.length > MAX_AUDIENCES || !audiences.every(isText))
    errors.push({ field: `${field}.audiences`, message: `must be up to ${MAX_AUDIENCES} non-empty strings` });
  const claims = c.claims === undefined ? {} : c.claims;
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims) || Object.keys(claims).length > MAX_CLAIMS) {
    errors.push({ field: `${field}.claims`, message: `must be an object of up to ${MAX_CLAIMS} claims` });
  } else {
    for (const [name, value] of Object.entries(claims)) {
      if (RESERVED_CLAIMS.has(name))
        errors.push({ field: `${field}.claims.${name}`, message: 'is matched by issuer, subject or audiences, or varies per token' });
      else if (!(typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))))
        errors.push({ field: `${field}.claims.${name}`, message: 'must be a string, number or boolean (matched exactly)' });
    }
  }
  return {
    issuer: c.issuer as string,
    subject: c.subject as string,
    audiences: Array.isArray(audiences) ? [...new Set(audiences as string[])] : [],
    claims: (claims ?? {}) as FederatedCredential['claims'],
  };
}

/**
 * Whether a verified assertion's claims satisfy a credential: `sub` equal, `aud` (string or
 * array) holding one of `audiences` (`fallbackAudiences` when it names none), each claim equal.
 */
export function credentialMatches(c: FederatedCredential, payload: Record<string, unknown>, fallbackAudiences: readonly string[]): boolean {
  if (payload.iss !== c.issuer || payload.sub !== c.subject) return false;
  const aud = typeof payload.aud === 'string' ? [payload.aud] : Array.isArray(payload.aud) ? payload.aud : [];
  const wanted = c.audiences.length ? c.audiences : fallbackAudiences;
  if (!aud.some((a) => typeof a === 'string' && wanted.includes(a))) return false;
  return Object.entries(c.claims).every(([name, value]) => payload[name] === value);
}

function isText(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_TEXT && !CONTROL.test(v);
}

function sorted(o: Record<string, unknown>): Array<[string, unknown]> {
  return Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
