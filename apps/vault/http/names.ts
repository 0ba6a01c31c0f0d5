import { PipeTransform } from '@nestjs/common';
import { DomainError } from '../../../libs/kernel';

/** Names in paths (integrations, agents, policies, users): a conservative allowlist. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

export class NamePipe implements PipeTransform<string, string> {
  constructor(private readonly field: string) {}
  transform(value: string): string {
    if (typeof value !== 'string' || !NAME.test(value)) {
      throw new DomainError('validation_failed', `${this.field} is not a valid name`, {
        extra: { errors: [{ field: this.field, message: 'must match ' + NAME.source }] },
      });
    }
    return value;
  }
}

export const validName = (field: string) => new NamePipe(field);
