import { Type } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsInt, IsObject, IsOptional, IsString, Length, Max, Min, ValidateNested } from 'class-validator';

export class PolicyUsersDto {
  @IsOptional() @IsArray() @ArrayMaxSize(100) @IsString({ each: true }) @Length(1, 256, { each: true }) roles_any?: string[];
  @IsOptional() @IsArray() @ArrayMaxSize(1000) @IsString({ each: true }) @Length(1, 256, { each: true }) subjects?: string[];
}

export class PutPolicyDto {
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(1000) @IsString({ each: true }) @Length(1, 128, { each: true }) agents!: string[];
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(1000) @IsString({ each: true }) @Length(1, 128, { each: true }) integrations!: string[];
  @IsOptional() @IsArray() @ArrayMaxSize(100) @IsString({ each: true }) @Length(1, 256, { each: true }) scopes?: string[];
  /** An object: `ValidateNested` alone would take an array and validate each element, and `[{ "subjects": [...] }]` would then apply to every user. */
  @IsOptional() @IsObject() @ValidateNested() @Type(() => PolicyUsersDto) users?: PolicyUsersDto;
  @IsIn(['allow', 'deny']) effect!: 'allow' | 'deny';
  @IsOptional() @IsInt() @Min(1) @Max(86400) max_ttl_seconds?: number;
}
