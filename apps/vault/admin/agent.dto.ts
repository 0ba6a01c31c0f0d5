import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsObject, IsOptional, IsString, Length, ValidateNested } from 'class-validator';

/** A JWK Set: `keys` and nothing else at the top (the keys themselves are checked where they are used). */
export class JwksDto {
  @IsArray() @ArrayMaxSize(100) @IsObject({ each: true }) keys!: Record<string, unknown>[];
}

export class PutAgentDto {
  @IsString() @Length(1, 200) name!: string;
  @IsOptional() @IsIn(['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt']) auth_method?: 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
  @IsOptional() @IsObject() @ValidateNested() @Type(() => JwksDto) jwks?: JwksDto;
}
