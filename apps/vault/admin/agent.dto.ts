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
    description:
      "true: the agent's tokens are DPoP-bound (RFC 9449): the token endpoint requires a DPoP proof and the release route a proof by the same key. Omitted: a new agent is not bound, an existing one keeps its setting",
  })
  @IsOptional()
  @IsBoolean()
  dpop_bound?: boolean;
}
