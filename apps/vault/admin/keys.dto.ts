import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';

const TENANT = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export class RotateKeysDto {
  @ApiProperty({ enum: ['kek', 'tenant', 'signing'] })
  @IsIn(['kek', 'tenant', 'signing'])
  target!: 'kek' | 'tenant' | 'signing';
  /** Operators only: another tenant than the token's. */
  @ApiPropertyOptional({
    pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$',
    description: "Operators (vault:operator) only: another tenant than the token's",
  })
  @IsOptional()
  @IsString()
  @Matches(TENANT)
  tenant?: string;
  /** `kek` only: false = do not create a version, just move every key onto the current one. */
  @ApiPropertyOptional({ type: 'boolean', description: 'kek only: false = move every key onto the current version without creating one' })
  @IsOptional()
  @IsBoolean()
  new_version?: boolean;
}

export class RetireKeysDto {
  /** The tenant-key version to retire, with every version below it. */
  @ApiProperty({ type: 'integer', minimum: 1, description: 'Retires this tenant-key version and every version below it' })
  @IsInt()
  @Min(1)
  @Max(2 ** 31 - 1)
  version!: number;
  @ApiPropertyOptional({
    pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$',
    description: "Operators (vault:operator) only: another tenant than the token's",
  })
  @IsOptional()
  @IsString()
  @Matches(TENANT)
  tenant?: string;
}

export class KeyStatusQuery {
  @ApiPropertyOptional({
    pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$',
    description: "Operators (vault:operator) only: another tenant than the token's",
  })
  @IsOptional()
  @IsString()
  @Matches(TENANT)
  tenant?: string;
}

export class ShredTenantQuery {
  /** Must repeat the tenant id: deleting a tenant cannot be undone. */
  @ApiProperty({ description: 'Must repeat the tenant id' })
  @IsString()
  @Matches(TENANT)
  confirm!: string;
}
