import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsInt, IsObject, IsOptional, IsString, Length, Max, Min } from 'class-validator';

/**
 * `PUT /v1/admin/resources/{name}`. The scopes map (scope name → who may hold it) is checked
 * field by field in the lib (`toResource`), which names the scope that is wrong.
 */
export class PutResourceDto {
  @ApiProperty({ example: 'https://crm.internal.example.com', description: "RFC 8707 resource identifier: the tokens' aud" })
  @IsString()
  @Length(1, 2048)
  identifier!: string;
  @ApiProperty({ minLength: 1, maxLength: 200, example: 'CRM' })
  @IsString()
  @Length(1, 200)
  display_name!: string;
  @ApiProperty({
    type: 'object',
    additionalProperties: {
      type: 'object',
      properties: {
        description: { type: 'string' },
        roles_any: { type: 'array', items: { type: 'string' } },
        require_approval: { type: 'boolean' },
      },
      required: ['roles_any'],
    },
    example: { 'crm:read': { description: 'Read CRM records', roles_any: ['analyst'] } },
  })
  @IsObject()
  scopes!: Record<string, { description?: string; roles_any: string[]; require_approval?: boolean }>;
  @ApiPropertyOptional({ minimum: 1, maximum: 86400, default: 300 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(86400)
  token_ttl_seconds?: number;
  @ApiPropertyOptional({ type: [String], maxItems: 100, description: 'Agents allowed to exchange tokens for it, or "*"' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  agents?: string[];
}
