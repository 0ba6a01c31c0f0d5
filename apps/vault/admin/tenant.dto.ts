import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Length, ValidateIf } from 'class-validator';

/** The shapes only; what a name or logo URL may be is checked in libs/tenants (tenant-profile-rules.ts). */
export class PutTenantDto {
  @ApiProperty({ minLength: 1, maxLength: 100, example: 'Acme Travel', description: 'Shown on the consent and account pages' })
  @IsString()
  @Length(1, 400)
  display_name!: string;
  @ApiPropertyOptional({
    maxLength: 2048,
    nullable: true,
    example: 'https://cdn.acme.example/logo.png',
    description: 'https only, no credentials, a host name (not an IP address); null or absent for none',
  })
  @IsOptional()
  @ValidateIf((_, v) => v !== null)
  @IsString()
  @Length(1, 4096)
  logo_url?: string | null;
}
