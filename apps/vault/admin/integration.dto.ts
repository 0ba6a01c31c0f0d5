import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsObject, IsOptional, IsString, IsUrl, Length, Matches, ValidateNested } from 'class-validator';
import { PROVIDERS } from '../../../libs/credentials';

const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]{1,256}$/; // RFC 6749 scope-token

export class ApiKeyDefinitionDto {
  @IsOptional() @IsString() @Length(1, 128) header_name?: string;
  @IsOptional() @IsString() @Length(0, 64) prefix?: string;
  @IsOptional() @IsUrl({ protocols: ['https'], require_protocol: true }) validation_url?: string;
}

export class PutIntegrationDto {
  @IsIn(PROVIDERS) provider!: string;
  @IsOptional() @IsIn(['user', 'tenant']) level?: 'user' | 'tenant';
  @IsOptional() @IsString() @Length(1, 200) display_name?: string;
  @IsOptional() @IsString() @Length(1, 512) client_id?: string;
  /** Write-only: sealed by the keyring, never returned. */
  @IsOptional() @IsString() @Length(1, 4096) client_secret?: string;
  @IsOptional() @IsArray() @ArrayMaxSize(100) @Matches(SCOPE, { each: true }) scopes?: string[];
  @IsOptional() @IsUrl({ protocols: ['https'], require_protocol: true, require_tld: false }) authorize_url?: string;
  @IsOptional() @IsUrl({ protocols: ['https'], require_protocol: true, require_tld: false }) token_url?: string;
  @IsOptional() @IsUrl({ protocols: ['https'], require_protocol: true, require_tld: false }) revocation_url?: string;
  /** An object, not an array of them (`ValidateNested` alone accepts both). */
  @IsOptional() @IsObject() @ValidateNested() @Type(() => ApiKeyDefinitionDto) api_key?: ApiKeyDefinitionDto;
}
