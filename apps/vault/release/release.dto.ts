import { ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsOptional, Matches } from 'class-validator';

export class ReleaseDto {
  /** Must be a subset of the scopes granted to the connection (downscoping). */
  @ApiPropertyOptional({
    type: [String],
    maxItems: 100,
    description: 'A subset of the granted scopes (downscoping); default: all granted',
    example: ['calendar.readonly'],
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @Matches(/^[\x21\x23-\x5B\x5D-\x7E]{1,256}$/, { each: true })
  scopes?: string[];
}
