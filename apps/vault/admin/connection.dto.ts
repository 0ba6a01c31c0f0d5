import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Length, Matches } from 'class-validator';

export class PutApiKeyDto {
  /** Write-only. */
  @ApiProperty({ minLength: 1, maxLength: 8192, writeOnly: true, description: 'Write-only: sealed, never returned' })
  @IsString()
  @Length(1, 8192)
  api_key!: string;
}

export class ListConnectionsQuery {
  @ApiPropertyOptional({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$' })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/)
  user?: string;
  @ApiPropertyOptional({ pattern: '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$' })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/)
  integration?: string;
  @ApiPropertyOptional({ enum: ['active', 'needs_reauth', 'revoked', 'refresh_indeterminate'] })
  @IsOptional()
  @IsIn(['active', 'needs_reauth', 'revoked', 'refresh_indeterminate'])
  status?: 'active' | 'needs_reauth' | 'revoked' | 'refresh_indeterminate';
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 1000, default: 500 })
  @IsOptional()
  @IsString()
  @Matches(/^(?:[1-9][0-9]{0,2}|1000)$/, { message: 'limit must be an integer from 1 to 1000' })
  limit?: string;
}
