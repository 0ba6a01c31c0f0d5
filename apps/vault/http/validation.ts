import { ArgumentMetadata, PipeTransform, ValidationError, ValidationPipe } from '@nestjs/common';
import { DomainError } from '../../../libs/kernel';

interface FieldError {
  field: string;
  message: string;
}

/** Field names are the caller's (unknown keys included): quoted back only when they look like one. */
const FIELD_NAME = /^[A-Za-z0-9_$][A-Za-z0-9_$-]{0,63}$/;

function flatten(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((e) => {
    const name = FIELD_NAME.test(e.property) ? e.property : '(field)';
    const field = parent ? `${parent}.${name}` : name;
    const own = Object.values(e.constraints ?? {}).map((message) => ({
      field,
      message: message
        .replace(/^property /, '')
        .split(e.property || name)
        .join(name),
    }));
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

function invalid(list: FieldError[]): DomainError {
  const fields = [...new Set(list.map((e) => e.field))];
  return new DomainError('validation_failed', `Invalid request: ${fields.join(', ')}`, { extra: { errors: list } });
}

const dtoValidation = new ValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  forbidUnknownValues: true,
  transform: true,
  transformOptions: { enableImplicitConversion: false },
  validationError: { target: false, value: false },
  exceptionFactory: (errors) => invalid(flatten(errors)),
});

/**
 * A request body, when there is one, is a JSON object: what `JSON.parse` makes of `{...}`, a plain
 * object. Arrays, strings, numbers and `null` are refused here, before DTO validation (which would
 * treat them as an empty object), and so are dictionaries without `Object.prototype`: that is what
 * the form-urlencoded parser yields (a `fast-querystring` result), and the API takes JSON only.
 */
function isJsonObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

const UNTYPED: unknown[] = [Object, String, Number, Boolean, Array, Buffer, Date];

/** A body declared as a DTO class (bodies declared `unknown`, e.g. OAuth forms, are the handler's to check). */
function isDtoBody(metadata: ArgumentMetadata): boolean {
  return metadata.type === 'body' && typeof metadata.metatype === 'function' && !UNTYPED.includes(metadata.metatype);
}

/**
 * Strict validation: a DTO body must be a JSON object; unknown or extra fields (at any depth),
 * wrong types and missing fields are a 400 naming each field. Values are never echoed back.
 */
export class StrictValidationPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (isDtoBody(metadata) && value !== undefined && !isJsonObject(value)) {
      throw invalid([{ field: '(body)', message: 'must be a JSON object, sent as application/json' }]);
    }
    return dtoValidation.transform(value, metadata);
  }
}

export const strictValidation = new StrictValidationPipe();
