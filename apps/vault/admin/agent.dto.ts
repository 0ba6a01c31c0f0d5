import { IsIn, IsObject, IsOptional, IsString, Length } from 'class-validator';

export class PutAgentDto {
  @IsString() @Length(1, 200) name!: string;
  @IsOptional() @IsIn(['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt']) auth_method?: 'none' | 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
  @IsOptional() @IsObject() jwks?: { keys: unknown[] };
}
