import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { ModulesContainer } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ErrorCodes } from '../../libs/kernel';
import { LogCapture } from '../support/log-capture';
import { startTestVault, TestVault } from '../support/vault';

/**
 * The OpenAPI document at /docs/openapi.json is built from the code: it is structurally valid
 * OpenAPI 3 (version, info, paths, every operation answered, path parameters declared, every
 * $ref resolves), it has exactly the routes the router registered, each route documents its
 * errors (problem+json with the stable codes), and every field a request schema validates is documented.
 */

type Json = Record<string, any>;
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

function resolvePointer(doc: Json, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  return ref
    .slice(2)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<any>((node, key) => (node === undefined ? undefined : node[key]), doc);
}

function refsIn(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => refsIn(n, out));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refsIn(v, out);
    }
  }
  return out;
}

function operations(doc: Json): Array<{ key: string; path: string; method: string; op: Json }> {
  return Object.entries(doc.paths as Json).flatMap(([path, item]) =>
    Object.entries(item as Json)
      .filter(([m]) => METHODS.includes(m))
      .map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, path, method, op: op as Json })),
  );
}

describe('OpenAPI at /docs', () => {
  const logs = new LogCapture();
  let v: TestVault;
  let doc: Json;

  beforeAll(async () => {
    v = await startTestVault({}, { logger: logs });
    const res = await v.call('GET', '/docs/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    doc = res.body;
  });
  afterAll(() => v?.close());

  it('is structurally valid OpenAPI 3', () => {
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(Object.keys(doc.paths).length).toBeGreaterThan(20);
    const ids = new Set<string>();
    for (const { key, path, op } of operations(doc)) {
      expect(path).toMatch(/^\//);
      expect(op.operationId).toEqual(expect.any(String));
      expect(ids.has(op.operationId)).toBe(false);
      ids.add(op.operationId);
      const statuses = Object.keys(op.responses ?? {});
      expect(statuses.length).toBeGreaterThan(0);
      for (const s of statuses) expect(`${key} ${s}`).toMatch(/ ([1-5][0-9]{2}|default)$/);
      for (const r of Object.values(op.responses as Json)) expect(typeof r.description).toBe('string');
      expect(statuses.some((s) => /^[23]/.test(s))).toBe(true);
      // Every {param} of the path is declared as a required path parameter, and nothing else is.
      const declared = (op.parameters ?? []).filter((p: Json) => p.in === 'path');
      const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      expect(declared.map((p: Json) => p.name).sort()).toEqual([...inPath].sort());
      for (const p of declared) expect(p.required).toBe(true);
      for (const p of op.parameters ?? []) expect(['path', 'query', 'header', 'cookie']).toContain(p.in);
    }
    for (const ref of refsIn(doc)) expect([ref, resolvePointer(doc, ref) !== undefined]).toEqual([ref, true]);
    for (const [name, scheme] of Object.entries(doc.components.securitySchemes as Json))
      expect([name, scheme.type]).toEqual([name, 'http']);
    for (const { op } of operations(doc))
      for (const req of op.security ?? []) for (const name of Object.keys(req)) expect(doc.components.securitySchemes[name]).toBeDefined();
  });

  it('has exactly the routes the router registered (and the router has each of them)', () => {
    const mapped = logs.lines
      .map((l) => /Mapped \{(\S+), ([A-Z]+)\} route/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => `${m[2]} ${m[1].replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`);
    expect(mapped.length).toBeGreaterThan(20);
    const documented = operations(doc).map((o) => o.key);
    expect([...documented].sort()).toEqual([...new Set(mapped)].sort());
    const fastify = v.vault.app.getHttpAdapter().getInstance() as FastifyInstance;
    for (const { method, path } of operations(doc)) {
      expect([method, path, fastify.hasRoute({ method: method.toUpperCase() as 'GET', url: path.replace(/\{([^}]+)\}/g, ':$1') })]).toEqual(
        [method, path, true],
      );
    }
  });

  it('documents the errors of every route: problem+json with the stable codes', () => {
    const problem = doc.components.schemas.Problem;
    expect(problem.properties.code.enum).toEqual(expect.arrayContaining(Object.keys(ErrorCodes)));
    const codesOf = (r: Json, type = 'application/problem+json') =>
      r.content?.[type]?.schema?.allOf?.[1]?.properties?.code?.enum as string[] | undefined;
    for (const { key, op } of operations(doc)) {
      const errors = Object.entries(op.responses as Json).filter(([s]) => /^[45]/.test(s));
      expect([key, errors.length > 0]).toEqual([key, true]);
      for (const [status, r] of errors) {
        const content = Object.keys(r.content ?? {});
        expect([key, status, content.length]).toEqual([key, status, 1]);
        if (content[0] === 'application/problem+json') {
          expect(r.content['application/problem+json'].schema.allOf[0]).toEqual({ $ref: '#/components/schemas/Problem' });
          const codes = codesOf(r)!;
          expect(codes.length).toBeGreaterThan(0);
          for (const c of codes) {
            expect(problem.properties.code.enum).toContain(c);
            // A domain code is documented under the status it is answered with.
            if (c in ErrorCodes) expect([key, c, ErrorCodes[c as keyof typeof ErrorCodes]]).toEqual([key, c, Number(status)]);
          }
        } else {
          expect(['application/json', 'text/html']).toContain(content[0]);
        }
      }
    }
    const release = doc.paths['/v1/connections/{integration}/token'].post;
    expect(codesOf(release.responses['401'])).toEqual(['invalid_token', 'invalid_dpop_proof']);
    expect(codesOf(release.responses['403'])).toEqual(['not_an_agent_token', 'scope_missing', 'policy_denied', 'scope_exceeds_policy']);
    expect(codesOf(release.responses['404'])).toEqual(['connection_not_found']);
    expect(codesOf(release.responses['409'])).toEqual(['needs_reauth']);
    expect(codesOf(release.responses['429'])).toEqual(['rate_limited']);
    expect(release.responses['429'].headers['Retry-After']).toBeDefined();
    expect(codesOf(release.responses['503'])).toEqual(['unavailable']);
    expect(release.security).toEqual([{ bearer: [] }]);
    const token = doc.paths['/oauth2/token'].post;
    expect(token.responses['401'].content['application/json'].schema.allOf[1].properties.error.enum).toEqual(['invalid_client']);
    expect(Object.keys(token.requestBody.content)).toEqual(['application/x-www-form-urlencoded']);
    // The operator dashboard is its own section, with its HTML sign-in page and its rate limit.
    const dashboard = doc.paths['/dashboard'].get;
    expect(dashboard.tags).toEqual(['Operator dashboard']);
    expect(Object.keys(dashboard.responses['401'].content)).toEqual(['text/html']);
    expect(Object.keys(dashboard.responses['429'].content)).toEqual(['text/html']);
    expect(doc.paths['/dashboard/session'].post.responses['303']).toBeDefined();
    // The pages for people are rate limited per address too (a page with Retry-After).
    for (const path of ['/account', '/auth/callback', '/connect/s/{id}', '/connections'])
      expect([path, Object.keys(doc.paths[path].get.responses['429'].content)]).toEqual([path, ['text/html']]);
    // The tenant profile and user sessions are sections of their own, not under shredding.
    expect([doc.paths['/v1/admin/tenant'].put.tags, doc.paths['/v1/admin/tenant'].delete.tags]).toEqual([
      ['Admin: tenant'],
      ['Admin: shredding'],
    ]);
    expect(doc.paths['/v1/admin/users/{subject}/sessions'].delete.tags).toEqual(['Admin: user sessions']);
  });

  it('documents every field each route validates (bodies and query schemas), and every whole body or query has a schema', () => {
    // The fields a parameter's request schema (a zod object, `*.dto.ts`) takes.
    const validated = (schema: unknown) => Object.keys((schema as z.ZodObject).shape).sort();
    const byId = new Map(operations(doc).map((o) => [o.op.operationId as string, o.op]));
    const unchecked: string[] = [];
    let checked = 0;
    for (const module of v.vault.app.get(ModulesContainer).values()) {
      for (const wrapper of module.controllers.values()) {
        const ctrl = wrapper.metatype as Function;
        for (const method of Object.getOwnPropertyNames(ctrl.prototype)) {
          const args: Record<string, { index: number; data?: unknown; schema?: unknown }> =
            Reflect.getMetadata(ROUTE_ARGS_METADATA, ctrl, method) ?? {};
          for (const [key, arg] of Object.entries(args)) {
            const kind = Number(key.split(':')[0]);
            if ((kind !== RouteParamtypes.BODY && kind !== RouteParamtypes.QUERY) || arg.data !== undefined) continue;
            if (arg.schema === undefined) {
              unchecked.push(`${ctrl.name}.${method} ${kind === RouteParamtypes.BODY ? 'body' : 'query'}`);
              continue;
            }
            const op = byId.get(`${ctrl.name}_${method}`);
            expect([ctrl.name, method, op !== undefined]).toEqual([ctrl.name, method, true]);
            const documented =
              kind === RouteParamtypes.BODY
                ? Object.keys((resolvePointer(doc, op!.requestBody.content['application/json'].schema.$ref) as Json).properties)
                : op!.parameters.filter((p: Json) => p.in === 'query').map((p: Json) => p.name);
            expect([ctrl.name, method, [...documented].sort()]).toEqual([ctrl.name, method, validated(arg.schema)]);
            checked++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(10);
    // A whole body or query without a schema is not validated by the pipe: only these check their own.
    expect(unchecked.sort()).toEqual([
      'AuditController.list query',
      'MyConnectionsController.list query',
      'OAuthCallbackController.callback query',
      // RFC 7591: metadata errors are `invalid_client_metadata` / `invalid_redirect_uri` JSON, checked by ClientRegistry.
      'RegisterController.register body',
    ]);
  });

  it('serves Swagger UI from the vault itself, under a strict CSP', async () => {
    const page = await v.call('GET', '/docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    const assets = [...page.text.matchAll(/(?:src|href)="(\/docs\/[^"]+)"/g)].map((m) => m[1]);
    expect(assets).toEqual(expect.arrayContaining(['/docs/swagger-ui.css', '/docs/swagger-ui-bundle.js', '/docs/init.js']));
    for (const asset of assets) {
      const res = await v.call('GET', asset);
      expect([asset, res.status]).toEqual([asset, 200]);
      expect(res.text.length).toBeGreaterThan(asset === '/docs/init.js' ? 20 : 10_000);
    }
    expect((await v.call('GET', '/docs/init.js')).text).toContain('/docs/openapi.json');
  });
});
