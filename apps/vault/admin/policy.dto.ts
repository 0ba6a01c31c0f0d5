import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Length,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';

export class PolicyUsersDto {
  @ApiPropertyOptional({ type: [String], maxItems: 100 })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @Length(1, 256, { each: true })
  roles_any?: string[];
  @ApiPropertyOptional({ type: [String], maxItems: 1000 })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(1000)
  @IsString({ each: true })
  @Length(1, 256, { each: true })
  subjects?: string[];
}

export class PutPolicyDto {
  @ApiProperty({ type: [String], minItems: 1, maxItems: 1000, description: 'Agent client ids, or "*"' })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(1000)
  @IsString({ each: true })
  @Length(1, 128, { each: true })
  agents!: string[];
  @ApiProperty({ type: [String], minItems: 1, maxItems: 1000, description: 'Integration names, or "*"' })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(1000)
  @IsString({ each: true })
  @Length(1, 128, { each: true })
  integrations!: string[];
  @ApiPropertyOptional({ type: [String], maxItems: 100, description: 'Provider-scope ceiling' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @Length(1, 256, { each: true })
  scopes?: string[];
  /** An object: `ValidateNested` alone would take an array and validate each element, and `[{ "subjects": [...] }]` would then apply to every user. */
  @ApiPropertyOptional({ type: () => PolicyUsersDto, description: 'User conditions (an object)' })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => PolicyUsersDto)
  users?: PolicyUsersDto;
  @ApiProperty({ enum: ['allow', 'deny'] })
  @IsIn(['allow', 'deny'])
  effect!: 'allow' | 'deny';
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 86400 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(86400)
  max_ttl_seconds?: number;
  @ApiPropertyOptional({ type: 'boolean', description: "Each use needs the user's approval first (CIBA, POST /oauth2/bc-authorize)" })
  @IsOptional()
  @IsBoolean()
  require_approval?: boolean;
  @ApiPropertyOptional({ type: 'integer', minimum: 60, maximum: 86400, description: 'How long an approval lasts (default 600)' })
  @IsOptional()
  @IsInt()
  @Min(60)
  @Max(86400)
  approval_ttl_seconds?: number;
  @ApiPropertyOptional({ enum: ['user'], description: 'Who approves: the user (the only choice today)' })
  @IsOptional()
  @IsIn(['user'])
  approvers?: 'user';
}
