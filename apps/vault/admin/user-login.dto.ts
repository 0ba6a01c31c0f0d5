import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsOptional, IsString, Length, ValidateIf } from 'class-validator';

export class PutUserLoginDto {
  @ApiProperty({
    maxLength: 2048,
    example: 'https://login.example.com',
    description: 'OpenID issuer; https (plain http only for a loopback provider outside production)',
  })
  @IsString()
  @Length(1, 2048)
  issuer!: string;
  @ApiProperty({ maxLength: 255 })
  @IsString()
  @Length(1, 255)
  client_id!: string;
  @ApiProperty({ maxLength: 1024, writeOnly: true, description: 'Sealed; never returned' })
  @IsString()
  @Length(1, 1024)
  client_secret!: string;
  @ApiPropertyOptional({ type: [String], example: ['openid', 'email', 'profile'] })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(20)
  @IsString({ each: true })
  scopes?: string[];
  @ApiPropertyOptional({
    example: 'sub',
    description: 'The claim that is the user (must equal the `sub` of their exchanged tokens; Entra: oid)',
  })
  @IsOptional()
  @IsString()
  @Length(1, 64)
  subject_claim?: string;
  @ApiPropertyOptional({ example: 'roles', nullable: true })
  @IsOptional()
  @ValidateIf((_, v) => v !== null)
  @IsString()
  @Length(1, 64)
  roles_claim?: string | null;
}
