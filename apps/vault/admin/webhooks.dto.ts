import { ApiProperty } from '@nestjs/swagger';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsString, Length } from 'class-validator';

export class PutWebhookDto {
  @ApiProperty({
    maxLength: 2048,
    example: 'https://app.example.com/hooks/vault',
    description:
      'https (plain http only for OUTBOUND_ALLOW_HOSTS); private, loopback and link-local addresses are refused unless allowlisted',
  })
  @IsString()
  @Length(1, 2048)
  url!: string;
  @ApiProperty({
    type: [String],
    minItems: 1,
    maxItems: 10,
    example: ['connection.needs_reauth', 'connection.refresh_failed'],
    description:
      '"*" or any of connection.created, connection.refresh_failed, connection.needs_reauth, connection.recovered, connection.deleted',
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(10)
  @IsString({ each: true })
  @Length(1, 64, { each: true })
  events!: string[];
}
