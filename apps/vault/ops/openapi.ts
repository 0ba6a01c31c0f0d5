import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RELEASE_OPENAPI_PATH, releaseOperation } from '../release/release.route';
import { ReleaseDto } from '../release/release.dto';
import { completeDocument } from './openapi-document';

/** Swagger UI's files, from the copy @nestjs/swagger depends on. */
const UI_DIR = dirname(require.resolve('swagger-ui-dist/package.json', { paths: [dirname(require.resolve('@nestjs/swagger'))] }));
const UI_FILES: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
};

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Credential Vault API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="ui"></div><script src="/docs/swagger-ui-bundle.js"></script><script src="/docs/init.js"></script></body></html>`;
const INIT = `window.ui = SwaggerUIBundle({ url: '/docs/openapi.json', dom_id: '#ui', deepLinking: true });`;
/** Scripts only from here (no inline script); Swagger UI styles inline. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src " +
  "'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** The OpenAPI 3 document of the app's routes, from the controllers and DTOs, with every route's errors. */
export function buildOpenApiDocument(app: NestFastifyApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Credential Vault')
    .setDescription(
      'Releases third-party credentials to AI agents under policy. Errors are RFC 9457 ' +
        '`application/problem+json` with a stable `code` (the token endpoint answers OAuth errors, RFC 6749 ' +
        '§5.2).',
    )
    .setVersion('1')
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
        description: 'An exchanged agent token (release) or a `vault:admin` token (admin API)',
      },
      'bearer',
    )
    .addBasicAuth({ type: 'http', scheme: 'basic', description: 'client_secret_basic (token endpoint)' }, 'client')
    .build();
  const doc = SwaggerModule.createDocument(app, config);
  // The release route is a plain Fastify route (no controller for the scanner to see): its body
  // schema is converted the way Swagger converts the controllers' (zod's JSON Schema, OpenAPI 3.0).
  const release = z.toJSONSchema(ReleaseDto, { target: 'openapi-3.0', io: 'input' });
  const schemas = JSON.parse(JSON.stringify(release.definitions).replaceAll('#/definitions/', '#/components/schemas/')) as object;
  doc.components = { ...doc.components, schemas: { ...doc.components?.schemas, ...schemas } };
  doc.paths[RELEASE_OPENAPI_PATH] = { post: releaseOperation(String(release.$ref).replace('#/definitions/', '#/components/schemas/')) };
  return completeDocument(doc);
}

/**
 * `GET /docs` (Swagger UI) and `GET /docs/openapi.json`. The document is built on first request
 * (the app is complete by then) and kept.
 */
export function serveApiDocs(app: NestFastifyApplication): void {
  const fastify = app.getHttpAdapter().getInstance() as FastifyInstance;
  let json: string | undefined;
  const files = new Map<string, Buffer>();
  const page = (reply: FastifyReply, type: string, body: string | Buffer) =>
    reply
      .header('Content-Type', type)
      .header('Content-Security-Policy', CSP)
      .header('X-Content-Type-Options', 'nosniff')
      .header('Cache-Control', 'no-cache')
      .send(body);

  fastify.get('/docs/openapi.json', async (_req, reply) => {
    json ??= JSON.stringify(buildOpenApiDocument(app));
    return page(reply, 'application/json; charset=utf-8', json);
  });
  fastify.get('/docs', async (_req, reply) => page(reply, 'text/html; charset=utf-8', PAGE));
  fastify.get('/docs/init.js', async (_req, reply) => page(reply, 'application/javascript; charset=utf-8', INIT));
  for (const [name, type] of Object.entries(UI_FILES)) {
    fastify.get(`/docs/${name}`, async (_req, reply) => {
      if (!files.has(name)) files.set(name, readFileSync(join(UI_DIR, name)));
      return page(reply, type, files.get(name)!);
    });
  }
}
