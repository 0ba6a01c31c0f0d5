import { Body, Controller, Delete, Get, HttpCode, Param, Put, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AdminGuard, Principal, VerifiedToken } from '../../../libs/auth';
import { PolicyAdminService } from '../../../libs/policy';
import { validName } from '../http/names';
import { PutPolicyDto } from './policy.dto';

@Controller('v1/admin/policies')
@UseGuards(AdminGuard)
export class PoliciesController {
  constructor(private readonly policies: PolicyAdminService) {}

  @Put(':name')
  async put(
    @Principal() p: VerifiedToken,
    @Param('name', validName('name')) name: string,
    @Body({ schema: PutPolicyDto }) dto: PutPolicyDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    const r = await this.policies.put(p, name, dto);
    res.status(r.created ? 201 : 200);
    return r.policy;
  }

  @Get()
  async list(@Principal() p: VerifiedToken) {
    return { policies: await this.policies.list(p) };
  }

  @Delete(':name')
  @HttpCode(204)
  remove(@Principal() p: VerifiedToken, @Param('name', validName('name')) name: string) {
    return this.policies.remove(p, name);
  }
}
