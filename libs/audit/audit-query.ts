import { DomainError } from '../kernel';
import { AUDIT_OUTCOMES, AuditOutcome } from './audit.types';
import { ACTION_PATTERN } from './audit-event';

/** A validated `AuditListQuery`: every value is safe to bind as a parameter. */
export interface ParsedAuditQuery {
  action?: string;
  outcome?: AuditOutcome;
  agent?: string;
  subject?: string;
  integration?: string;
  /** An approval's id (`details.approval`). */
  approval?: string;
  since?: string;
  until?: string;
  /** Only events with a smaller seq (from the cursor). */
  beforeSeq?: string;
  limit: number;
}

interface FieldError {
  field: string;
  message: string;
}

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;
const IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9._:@|+/=~-]{0,255}$/;
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/;
const CURSOR = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_SEQ = 9223372036854775807n;

type Parser = (value: string, out: ParsedAuditQuery) => string | undefined;

/** Allowlist of parameters: each returns an error message, or stores its value and returns nothing. */
const PARAMETERS: Record<string, Parser> = {
  action(v, out) {
    if (!ACTION_PATTERN.test(v)) return 'must be a dotted lower-case action name';
    out.action = v;
  },
  outcome(v, out) {
    if (!(AUDIT_OUTCOMES as readonly string[]).includes(v)) return `must be one of ${AUDIT_OUTCOMES.join(', ')}`;
    out.outcome = v as AuditOutcome;
  },
  agent(v, out) {
    if (!IDENTIFIER.test(v)) return 'must be an identifier';
    out.agent = v;
  },
  user(v, out) {
    if (!IDENTIFIER.test(v)) return 'must be an identifier';
    out.subject = v;
  },
  integration(v, out) {
    if (!IDENTIFIER.test(v)) return 'must be an identifier';
    out.integration = v;
  },
  approval(v, out) {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(v)) return 'must be an approval id (a UUID)';
    out.approval = v;
  },
  since(v, out) {
    if (!isIsoDateTime(v)) return 'must be an ISO 8601 date-time with a time zone';
    out.since = v;
  },
  until(v, out) {
    if (!isIsoDateTime(v)) return 'must be an ISO 8601 date-time with a time zone';
    out.until = v;
  },
  cursor(v, out) {
    out.beforeSeq = decodeCursor(v);
    if (out.beforeSeq === undefined) return 'is not a valid cursor';
  },
  limit(v, out) {
    const n = /^[0-9]{1,3}$/.test(v) ? Number(v) : NaN;
    if (!(n >= 1 && n <= MAX_LIMIT)) return `must be an integer from 1 to ${MAX_LIMIT}`;
    out.limit = n;
  },
};

/**
 * Validates the filters of `GET /v1/admin/audit`. Unknown parameters, repeated ones and
 * malformed values are refused with `validation_failed`; messages never echo the value.
 */
export function parseAuditQuery(query: object | undefined | null): ParsedAuditQuery {
  const out: ParsedAuditQuery = { limit: DEFAULT_LIMIT };
  const errors: FieldError[] = [];
  for (const [name, raw] of Object.entries(query ?? {})) {
    if (raw === undefined) continue;
    const parse = Object.prototype.hasOwnProperty.call(PARAMETERS, name) ? PARAMETERS[name] : undefined;
    if (!parse) {
      errors.push({ field: /^[A-Za-z0-9_.-]{1,64}$/.test(name) ? name : '(parameter)', message: 'is not a supported parameter' });
      continue;
    }
    const value = name === 'limit' && typeof raw === 'number' && Number.isInteger(raw) ? String(raw) : raw;
    const message = typeof value === 'string' ? parse(value, out) : 'must be a single string value';
    if (message) errors.push({ field: name, message });
  }
  if (out.since && out.until && Date.parse(out.since) > Date.parse(out.until))
    errors.push({ field: 'until', message: 'must not be before since' });
  if (errors.length > 0) {
    const first = errors[0];
    throw new DomainError('validation_failed', `${first.field} ${first.message}`, { extra: { errors } });
  }
  return out;
}

export function encodeCursor(seq: string): string {
  return Buffer.from(`s:${seq}`, 'utf8').toString('base64url');
}

/** The seq inside a cursor, or undefined when it is not one `encodeCursor` could have made. */
export function decodeCursor(cursor: string): string | undefined {
  if (!CURSOR.test(cursor)) return undefined;
  const m = /^s:([1-9][0-9]{0,18})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m || BigInt(m[1]) > MAX_SEQ || encodeCursor(m[1]) !== cursor) return undefined;
  return m[1];
}

function isIsoDateTime(v: string): boolean {
  if (!ISO_DATE_TIME.test(v) || Number.isNaN(Date.parse(v))) return false;
  // Date.parse rolls 2026-02-30 over to March; refuse dates that do not exist.
  const [y, m, d] = v.slice(0, 10).split('-').map(Number);
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
}
