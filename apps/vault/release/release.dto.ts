import { ArrayMaxSize, IsArray, IsOptional, Matches } from 'class-validator';

export class ReleaseDto {
  /** Must be a subset of the scopes granted to the connection (downscoping). */
  @IsOptional() @IsArray() @ArrayMaxSize(100) @Matches(/^[\x21\x23-\x5B\x5D-\x7E]{1,256}$/, { each: true }) scopes?: string[];
}
