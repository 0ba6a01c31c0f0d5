import { ArgumentMetadata, StandardSchemaValidationPipe, StandardSchemaValidationPipeOptions } from '@nestjs/common';
import { DomainError } from '../../../libs/kernel';

/** A Standard Schema issue (the type from `@standard-schema/spec`, a dependency of @nestjs/common). */
type Issue = Parameters<NonNullable<StandardSchemaValidationPipeOptions['exceptionFactory']>>[0][number];

interface FieldError {
  field: string;
  message: string;
}

/** Field names are the caller's (unknown keys included): quoted back only when they look like one. */
const FIELD_NAME = /^[A-Za-z0-9_$][A-Za-z0-9_$-]{0,63}$/;

const nameOf = (key: PropertyKey): string => (typeof key === 'string' && FIELD_NAME.test(key) ? key : '(field)');

/**
 * The field an issue is about, as `parent.child`. Array indices are left out: an issue with the
 * third scope is about `scopes` (as class-validator reported it). An empty path is the whole value.
 */
function fieldOf(path: Issue['path'], whole: string): string {
  const keys = (path ?? []).map((s) => (typeof s === 'object' ? s.key : s)).filter((k) => typeof k !== 'number');
  return keys.length ? keys.map(nameOf).join('.') : whole;
}

/**
 * One entry per field. Unknown keys are named one by one with our own message (zod's quotes the
 * key, which is the caller's input); zod's other messages name types and bounds, never the value.
 */
function fieldErrors(issues: readonly Issue[], whole: string): FieldError[] {
  return issues.flatMap((issue) => {
    const parent = fieldOf(issue.path, '');
    // zod's issue for a strict object: one issue at the parent, the keys listed.
    const { code, keys } = issue as Issue & { code?: string; keys?: unknown[] };
    const unknown = code === 'unrecognized_keys' && Array.isArray(keys) ? keys.map(String) : [];
    if (unknown.length)
      return unknown.map((k) => ({ field: parent ? `${parent}.${nameOf(k)}` : nameOf(k), message: 'is not a known field' }));
    return [{ field: fieldOf(issue.path, whole), message: issue.message }];
  });
}

function invalid(list: FieldError[]): DomainError {
  const fields = [...new Set(list.map((e) => e.field))];
  return new DomainError('validation_failed', `Invalid request: ${fields.join(', ')}`, { extra: { errors: list } });
}

/**
 * A request body, when there is one, is a JSON object: what `JSON.parse` makes of `{...}`, a plain
 * object. Arrays, strings, numbers and `null` are refused here, before the schema, and so are
 * dictionaries without `Object.prototype`: that is what the form-urlencoded parser yields (a
 * `fast-querystring` result), and the API takes JSON only.
 */
function isJsonObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/**
 * Strict validation through Nest's Standard Schema path: a parameter declared with a schema
 * (`@Body({ schema: PutAgentDto })`, `@Query({ schema })`) is parsed by it and replaced by the
 * parsed value. A body must be a JSON object (no body at all is `{}`); unknown fields (at any
 * depth: the schemas are strict objects), wrong types and missing fields are a 400 naming each
 * field. Values are never echoed back. Parameters without a schema (OAuth forms, the audit
 * filters) are the handler's to check.
 */
export class StrictValidationPipe extends StandardSchemaValidationPipe {
  constructor() {
    super({ exceptionFactory: (issues) => invalid(fieldErrors(issues, '(body)')) });
  }

  override async transform<T = unknown>(value: T, metadata: ArgumentMetadata): Promise<T> {
    if (!metadata.schema) return value;
    if (metadata.type === 'body' && metadata.data === undefined) {
      if (value === undefined) return super.transform({} as T, metadata);
      if (!isJsonObject(value)) throw invalid([{ field: '(body)', message: 'must be a JSON object, sent as application/json' }]);
    }
    return super.transform(value, metadata);
  }
}

export const strictValidation = new StrictValidationPipe();
