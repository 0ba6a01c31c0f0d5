import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsObject, IsOptional, IsString, IsUrl, Length, Matches, ValidateNested } from 'class-validator';
import { PROVIDERS } from '../../../libs/connections';

const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]{1,256}$/; // RFC 6749 scope-token

export class ApiKeyDefinitionDto {
  @ApiPropertyOptional({ minLength: 1, maxLength: 128, description: 'Header the key is sent in', example: 'Authorization' })
  @IsOptional()
  @IsString()
  @Length(1, 128)
  header_name?: string;
  @ApiPropertyOptional({ maxLength: 64, example: 'Bearer ' })
  @IsOptional()
  @IsString()
  @Length(0, 64)
  prefix?: string;
  @ApiPropertyOptional({ format: 'uri', description: 'https only' })
  @IsOptional()
  @IsUrl({ protocols: ['https'], require_protocol: true, disallow_auth: true })
  validation_url?: string;
}

export class PutIntegrationDto {
  @ApiProperty({ enum: PROVIDERS, description: 'A catalog provider, custom-oauth2, or api_key' })
  @IsIn(PROVIDERS)
  provider!: string;
  @ApiPropertyOptional({ enum: ['user', 'tenant'], default: 'user' })
  @IsOptional()
  @IsIn(['user', 'tenant'])
  level?: 'user' | 'tenant';
  @ApiPropertyOptional({ minLength: 1, maxLength: 200 })
  @IsOptional()
  @IsString()
  @Length(1, 200)
  display_name?: string;
  @ApiPropertyOptional({ minLength: 1, maxLength: 512 })
  @IsOptional()
  @IsString()
  @Length(1, 512)
  client_id?: string;
  /** Write-only: sealed by the keyring, never returned. */
  @ApiPropertyOptional({ minLength: 1, maxLength: 4096, writeOnly: true, description: 'Write-only: sealed, never returned' })
  @IsOptional()
  @IsString()
  @Length(1, 4096)
  client_secret?: string;
  @ApiPropertyOptional({ type: [String], maxItems: 100 })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @Matches(SCOPE, { each: true })
  scopes?: string[];
  /** custom-oauth2. Plain http only for hosts in OUTBOUND_ALLOW_HOSTS (checked by the controller). */
  @ApiPropertyOptional({ format: 'uri', description: 'custom-oauth2 only' })
  @IsOptional()
  @IsUrl({ protocols: ['https', 'http'], require_protocol: true, require_tld: false, disallow_auth: true })
  authorize_url?: string;
  @ApiPropertyOptional({ format: 'uri', description: 'custom-oauth2 only' })
  @IsOptional()
  @IsUrl({ protocols: ['https', 'http'], require_protocol: true, require_tld: false, disallow_auth: true })
  token_url?: string;
  @ApiPropertyOptional({ format: 'uri', description: 'custom-oauth2 only' })
  @IsOptional()
  @IsUrl({ protocols: ['https', 'http'], require_protocol: true, require_tld: false, disallow_auth: true })
  revocation_url?: string;
  /** Values of the catalog entry's parameters (Microsoft `tenant`, Salesforce `login_host`/`my_domain`, Zendesk `subdomain`); checked by the catalog. */
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'string' },
    description: 'Parameters of the catalog entry (e.g. Microsoft tenant, Salesforce login_host)',
  })
  @IsOptional()
  @IsObject()
  params?: Record<string, string>;
  /** custom-oauth2 only: the entry's quirks (libs/oauth/catalog/custom.ts); checked by the catalog. */
  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: "custom-oauth2 only: the entry's quirks" })
  @IsOptional()
  @IsObject()
  provider_options?: Record<string, unknown>;
  /** Where connect sessions may send the user back: URL prefixes, scheme/host/port compared exactly. */
  @ApiPropertyOptional({
    type: 'array',
    items: { type: 'string', format: 'uri' },
    maxItems: 20,
    description: 'Where connect sessions may send the user back (URL prefixes)',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(20)
  @IsUrl({ protocols: ['https', 'http'], require_protocol: true, require_tld: false, disallow_auth: true }, { each: true })
  return_urls?: string[];
  /** An object, not an array of them (`ValidateNested` alone accepts both). */
  @ApiPropertyOptional({ type: () => ApiKeyDefinitionDto })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => ApiKeyDefinitionDto)
  api_key?: ApiKeyDefinitionDto;
}
