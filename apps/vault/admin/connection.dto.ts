import { IsIn, IsOptional, IsString, Length, Matches } from 'class-validator';

export class PutApiKeyDto {
  /** Write-only. */
  @IsString() @Length(1, 8192) api_key!: string;
}

export class ListConnectionsQuery {
  @IsOptional() @IsString() @Matches(/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/) user?: string;
  @IsOptional() @IsString() @Matches(/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/) integration?: string;
  @IsOptional() @IsIn(['active', 'needs_reauth', 'revoked', 'refresh_indeterminate']) status?: 'active' | 'needs_reauth' | 'revoked' | 'refresh_indeterminate';
  @IsOptional() @IsString() @Matches(/^(?:[1-9][0-9]{0,2}|1000)$/, { message: 'limit must be an integer from 1 to 1000' }) limit?: string;
}
