import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AgentTokenGuard, DPOP_SIGNING_ALGS, isDpopRefusal } from '../../../libs/auth';
import { VAULT_CONFIG, VaultConfig } from '../../../libs/config';
import { DomainError } from '../../../libs/kernel';
import { CredentialReleaseService } from '../../../libs/release';
import { PROTECTED_RESOURCE_METADATA_PATH } from '../../../libs/token-service';
import { validName } from '../http/names';
import { sendProblem } from '../http/problem.filter';
import { strictValidation } from '../http/validation';
import { RouteRateLimits } from '../ops/rate-limit';
import { RELEASE_ROUTE } from '../ops/route-groups';
import { ReleaseDto } from './release.dto';

const integrationName = validName('integration');
const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]{1,256}$/;
const MAX_SCOPES = 100;
const BODY = { type: 'body', metatype: Object, data: undefined, schema: ReleaseDto } as const;

/**
 * `POST /v1/connections/{integration}/token`, the hot path, as a plain Fastify route: Nest's
 * guard/interceptor/pipe pipeline (and its rxjs plumbing) cost more CPU per request than the
 * release itself. The steps are the ones Nest ran, in its order, with the same code where it
 * exists: the per-IP limit (the global guard) → `AgentTokenGuard.authenticate` (verification,
 * `not_an_agent_token`, the rejection audited before the answer) → the per-agent limit (the
 * interceptor) → the path name and body checks (the pipes; an invalid body is answered by the
 * same validation pipe as every other body, so its 400 is unchanged) → `CredentialReleaseService`.
 * Errors go through `sendProblem`, what `ProblemFilter` answers. Around it nothing changes: the
 * request id and request logging (`onRequest` hooks, ops/logging), metrics (`onResponse`), body
 * parsing and its errors (Fastify, then Nest's error handler).
 */
@Injectable()
export class ReleaseRoute implements OnModuleInit {
  constructor(
    private readonly adapter: HttpAdapterHost,
    private readonly auth: AgentTokenGuard,
    private readonly limits: RouteRateLimits,
    private readonly release: CredentialReleaseService,
    @Inject(VAULT_CONFIG) private readonly config: VaultConfig,
  ) {}

  onModuleInit(): void {
    const fastify = this.adapter.httpAdapter?.getInstance<FastifyInstance>();
    if (!fastify) throw new Error('the release route needs the Fastify adapter');
    fastify.post(RELEASE_ROUTE, (req, reply) => this.handle(req, reply));
    // The line Nest logs for each route it maps, at debug as Nest's (the OpenAPI test matches documented routes against these).
    new Logger('ReleaseRoute').debug(`Mapped {${RELEASE_ROUTE}, POST} route`);
  }

  private async handle(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    try {
      this.limits.checkIp('release', req.ip);
      // A cached Bearer token (every use after its first) is checked without a promise.
      const authenticated = this.auth.authenticateNow(req);
      const token = authenticated instanceof Promise ? await authenticated : authenticated;
      this.limits.checkCaller('release', token);
      const integration = integrationName.transform((req.params as { integration?: unknown }).integration as string);
      // No body (the usual release) needs no check and no await.
      const scopes = req.body === undefined ? undefined : await requestedScopes(req.body);
      reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache');
      const result = await this.release.release(
        { tenant: token.tenant, subject: token.subject, agent: token.agent!, scopes: token.scopes, claims: token.claims, jti: token.jti },
        integration,
        scopes,
      );
      return reply.code(200).send(result);
    } catch (err) {
      // RFC 9728 §5.1: every 401 names where the resource's metadata is (and so its authorization servers).
      sendProblem(err, req, reply, this.challenge(req, err));
      return reply;
    }
  }

  /**
   * RFC 6750 §3: no error code when no credentials were sent; `invalid_token` otherwise. RFC 9449
   * §7.1: a DPoP refusal, or any 401 to a request that used the DPoP scheme, is a DPoP challenge.
   */
  private challenge(req: FastifyRequest, err: unknown): string {
    const metadata = `resource_metadata="${this.config.publicUrl}${PROTECTED_RESOURCE_METADATA_PATH}"`;
    // `invalid_dpop_proof` also comes from the release itself: a policy that came to require DPoP (require_dpop).
    const dpop =
      isDpopRefusal(err) ||
      (err instanceof DomainError &&
        (err.code === 'invalid_dpop_proof' || (err.status === 401 && /^dpop /i.test(req.headers.authorization ?? ''))));
    if (dpop) return `${dpopChallenge(err as DomainError)}, ${metadata}`;
    return req.headers.authorization === undefined ? `Bearer ${metadata}` : `Bearer error="invalid_token", ${metadata}`;
  }
}

const ALGS = DPOP_SIGNING_ALGS.join(' ');

/** RFC 9449 §7.1: the DPoP challenge, with the error, its description (public, no quotes in it) and the accepted algorithms. */
function dpopChallenge(err: DomainError): string {
  return `DPoP error="${err.code}", error_description="${err.detail.replace(/["\\]/g, '')}", algs="${ALGS}"`;
}

/** The route in the OpenAPI document (`completeDocument` adds its errors, security, tag and summary). */
export const RELEASE_OPENAPI_PATH = '/v1/connections/{integration}/token';

export function releaseOperation(bodySchemaRef: string) {
  return {
    operationId: 'ReleaseController_token',
    parameters: [{ name: 'integration', required: true, in: 'path' as const, schema: { type: 'string' as const } }],
    requestBody: { required: false, content: { 'application/json': { schema: { $ref: bodySchemaRef } } } },
    responses: { '200': { description: 'The credential (`Cache-Control: no-store`)' } },
  };
}

/**
 * The body's `scopes`. The common shapes (no body, `{}`, `{ "scopes": [valid scopes] }`) are
 * checked here; anything else goes through the validation pipe with the `ReleaseDto` schema, which
 * accepts what it accepted before and refuses the rest with the same 400.
 */
async function requestedScopes(body: unknown): Promise<string[] | undefined> {
  if (body === undefined) return undefined;
  if (typeof body === 'object' && body !== null && Object.getPrototypeOf(body) === Object.prototype) {
    const keys = Object.keys(body);
    if (keys.length === 0) return undefined;
    const scopes = (body as { scopes?: unknown }).scopes;
    if (
      keys.length === 1 &&
      keys[0] === 'scopes' &&
      Array.isArray(scopes) &&
      scopes.length <= MAX_SCOPES &&
      scopes.every((s) => typeof s === 'string' && SCOPE.test(s))
    ) {
      return scopes as string[];
    }
  }
  const dto = (await strictValidation.transform(body, BODY)) as ReleaseDto;
  return dto.scopes ?? undefined;
}
