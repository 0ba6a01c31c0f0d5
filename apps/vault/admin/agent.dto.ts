import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsIn, IsObject, IsOptional, IsString, Length, ValidateNested } from 'class-validator';

/** A JWK Set: `keys` and nothing else at the top (the keys themselves are checked where they are used). */
export class JwksDto {
  @ApiProperty({ type: 'array', items: { type: 'object', additionalProperties: true }, maxItems: 100, description: 'Public JWKs' })
  @IsArray()
  @ArrayMaxSize(100)
  @IsObject({ each: true })
  keys!: Record<string, unknown>[];
}

/** An Entra-style federated identity credential (the values are checked further by the admin use case). */
export class FederatedCredentialDto {
  @ApiProperty({ example: 'https://login.microsoftonline.com/<tenant-id>/v2.0', description: 'A TRUSTED_ISSUERS issuer (exact iss)' })
  @IsString()
  @Length(1, 2048)
  issuer!: string;
  @ApiProperty({ example: '9f1d…-GUID of the agent identity', description: 'The exact sub of the assertions' })
  @IsString()
  @Length(1, 255)
  subject!: string;
  @ApiPropertyOptional({ type: [String], maxItems: 10, description: 'aud must hold one of these; omitted: the token endpoint' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(10)
  @IsString({ each: true })
  audiences?: string[];
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: 'Claims the assertion must carry with exactly these values',
  })
  @IsOptional()
  @IsObject()
  claims?: Record<string, unknown>;
}

export class PutAgentDto {
  @ApiProperty({ minLength: 1, maxLength: 200, example: 'My MCP server' })
  @IsString()
  @Length(1, 200)
  name!: string;
  @ApiPropertyOptional({
    enum: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    description:
      'none: known only as the actor of tokens from an external token service; a secret method returns client_secret once. Omitted: a new agent gets none, an existing one keeps its method and credentials (only the name changes)',
  })
  @IsOptional()
  @IsIn(['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'])
  auth_method?: 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
  @ApiPropertyOptional({ type: () => JwksDto, description: 'Required for private_key_jwt' })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => JwksDto)
  jwks?: JwksDto;
  @ApiPropertyOptional({
    type: () => [FederatedCredentialDto],
    maxItems: 20,
    description: 'Replaces the list when given ([] clears it); omitted: kept. auth_method must be none',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(20)
  @ValidateNested({ each: true })
  @Type(() => FederatedCredentialDto)
  federated_credentials?: FederatedCredentialDto[];
  @ApiPropertyOptional({
    type: [String],
    maxItems: 20,
    description: "Subject-token audiences accepted at this agent's exchanges besides VAULT_AUDIENCE (e.g. the MCP server's own)",
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(20)
  @IsString({ each: true })
  accepted_audiences?: string[];
  @ApiPropertyOptional({ description: 'A disabled agent cannot authenticate and its tokens release nothing. Omitted: kept' })
  @IsOptional()
  @IsBoolean()
  disabled?: boolean;
}
