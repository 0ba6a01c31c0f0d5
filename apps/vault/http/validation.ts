import { ValidationError, ValidationPipe } from '@nestjs/common';
import { DomainError } from '../../../libs/kernel';

function flatten(errors: ValidationError[], parent = ''): Array<{ field: string; message: string }> {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((message) => ({ field, message: message.replace(/^property /, '') }));
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

/**
 * Strict DTO validation: unknown or extra fields (at any depth), wrong types and
 * missing fields are a 400 naming each field. Values are never echoed back.
 */
export const strictValidation = new ValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  forbidUnknownValues: true,
  transform: true,
  transformOptions: { enableImplicitConversion: false },
  validationError: { target: false, value: false },
  exceptionFactory: (errors) => {
    const list = flatten(errors);
    return new DomainError('validation_failed', `Invalid request: ${list.map((e) => e.field).join(', ')}`, { extra: { errors: list } });
  },
});
