import { Body, Controller, Delete, Get, HttpCode, Param, Put, Res, UseGuards } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AdminGuard, Principal, VerifiedToken } from '../../../libs/auth';
import { ResourceAdminService } from '../../../libs/resources';
import { validName } from '../http/names';
import { PutResourceDto } from './resource.dto';

/** The tenant's APIs and MCP servers the vault issues access tokens for (docs/resources.md). */
@Controller('v1/admin/resources')
@UseGuards(AdminGuard)
export class ResourcesController {
  constructor(private readonly resources: ResourceAdminService) {}

  @Put(':name')
  async put(
    @Principal() p: VerifiedToken,
    @Param('name', validName('name')) name: string,
    @Body({ schema: PutResourceDto }) dto: PutResourceDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    const r = await this.resources.put(p, name, dto);
    res.status(r.created ? 201 : 200);
    return r.resource;
  }

  @Get()
  async list(@Principal() p: VerifiedToken) {
    return { resources: await this.resources.list(p) };
  }

  @Get(':name')
  get(@Principal() p: VerifiedToken, @Param('name', validName('name')) name: string) {
    return this.resources.get(p, name);
  }

  @Delete(':name')
  @HttpCode(204)
  remove(@Principal() p: VerifiedToken, @Param('name', validName('name')) name: string) {
    return this.resources.remove(p, name);
  }
}
