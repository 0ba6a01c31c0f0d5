import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsEmail, IsInt, IsObject, IsOptional, IsString, Length, Matches, Max, Min, ValidateNested } from 'class-validator';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

export class ExpectedIdentityDto {
  @ApiPropertyOptional({ format: 'email', minLength: 3, maxLength: 320 })
  @IsOptional()
  @IsEmail()
  @Length(3, 320)
  email?: string;
  @ApiPropertyOptional({ minLength: 1, maxLength: 256 })
  @IsOptional()
  @IsString()
  @Length(1, 256)
  subject?: string;
}

export class CreateConnectSessionDto {
  @ApiProperty({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$' })
  @IsString()
  @Matches(NAME)
  user!: string;
  @ApiProperty({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$' })
  @IsString()
  @Matches(NAME)
  integration!: string;
  /** Checked against the integration's `return_urls` (and the vault's own origin). */
  @ApiPropertyOptional({ maxLength: 2048, description: "Checked against the integration's return_urls" })
  @IsOptional()
  @IsString()
  @Length(1, 2048)
  return_url?: string;
  @ApiPropertyOptional({ type: () => ExpectedIdentityDto, description: 'The provider account the user must sign in with' })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => ExpectedIdentityDto)
  expected_identity?: ExpectedIdentityDto;
  @ApiPropertyOptional({
    minLength: 1,
    maxLength: 100,
    example: 'Olga Smith',
    description: 'How the app names the user; the consent page shows it (escaped) beside `user`',
  })
  @IsOptional()
  @IsString()
  @Length(1, 400)
  user_display_name?: string;
  @ApiPropertyOptional({ type: 'integer', minimum: 60, maximum: 3600 })
  @IsOptional()
  @IsInt()
  @Min(60)
  @Max(3600)
  ttl_seconds?: number;
}
