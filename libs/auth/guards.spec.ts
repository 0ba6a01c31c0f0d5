import {
  ArgumentsHost,
  Catch,
  Controller,
  ExceptionFilter,
  Get,
  Global,
  HttpCode,
  INestApplication,
  Module,
  Post,
  UseGuards,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { FastifyReply } from 'fastify';
import { claims, craft, hs256, now, rsaKey, sign, testConfig } from '../../test/auth/token-fixtures';
import { ConfigModule, VaultConfig } from '../config';
import { DomainError, UnavailableError } from '../kernel';
import { AdminGuard, AgentTokenGuard, AUTH_REJECTION_SINK, AuthModule, AuthRejection, Principal, VerifiedToken } from './index';

const ISS = 'https://sts.example.com';
const key = rsaKey('k1');

@Controller()
class ProbeController {
  @Post('v1/connections/:integration/token')
  @HttpCode(200)
  @UseGuards(AgentTokenGuard)
  release(@Principal() p: VerifiedToken) {
    return { agent: p.agent, actorChain: p.actorChain, tenant: p.tenant, subject: p.subject };
  }

  @Get('v1/admin/whoami')
  @UseGuards(AdminGuard)
  admin(@Principal() p: VerifiedToken) {
    return { tenant: p.tenant, subject: p.subject };
  }

  @Get('unguarded')
  unguarded(@Principal() p: VerifiedToken) {
    return p;
  }
}

/** Stand-in for the app's RFC 9457 filter: status and code only. */
@Catch()
class ProbeFilter implements ExceptionFilter {
  catch(err: unknown, host: ArgumentsHost) {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    if (err instanceof DomainError) void reply.status(err.status).send({ code: err.code, detail: err.detail });
    else void reply.status(500).send({ code: 'internal_error' });
  }
}

const sink = { events: [] as AuthRejection[], fail: false };
/** The second app's own sink: rejections must not cross apps. */
const otherSink = { events: [] as AuthRejection[] };

function sinkModule(record: (e: AuthRejection) => Promise<void>) {
  @Global()
  @Module({ providers: [{ provide: AUTH_REJECTION_SINK, useValue: { rejected: record } }], exports: [AUTH_REJECTION_SINK] })
  class SinkModule {}
  return SinkModule;
}

async function start(config: VaultConfig, record: (e: AuthRejection) => Promise<void>): Promise<{ app: INestApplication; url: string }> {
  @Module({ imports: [ConfigModule.forRoot(config), sinkModule(record), AuthModule], controllers: [ProbeController] })
  class ProbeModule {}
  const app = await NestFactory.create(ProbeModule, new FastifyAdapter(), { logger: false });
  app.useGlobalFilters(new ProbeFilter());
  await app.listen(0, '127.0.0.1');
  return { app, url: (await app.getUrl()).replace('[::1]', '127.0.0.1') };
}

let main: { app: INestApplication; url: string };
let other: { app: INestApplication; url: string };

beforeAll(async () => {
  main = await start(testConfig([{ issuer: ISS, jwks: { keys: [key.jwk] }, algorithms: ['RS256'] }]), async (e) => {
    if (sink.fail) throw new UnavailableError('audit');
    sink.events.push(e);
  });
  // A second app in the same process, another audience and its own sink: guards must not share state.
  other = await start(
    testConfig([{ issuer: ISS, jwks: { keys: [key.jwk] }, algorithms: ['RS256'] }], { VAULT_AUDIENCE: 'https://other.vault' }),
    async (e) => {
      otherSink.events.push(e);
    },
  );
});
afterAll(async () => {
  await main.app.close();
  await other.app.close();
});
beforeEach(() => {
  sink.events.length = 0;
  sink.fail = false;
  otherSink.events.length = 0;
});

const release = (base: string, token?: string) =>
  fetch(`${base}/v1/connections/github/token`, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {} });
const whoami = (token: string) => fetch(`${main.url}/v1/admin/whoami`, { headers: { authorization: `Bearer ${token}` } });

async function expectRejected(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(await res.json()).toMatchObject({ code });
  expect(sink.events.map((e) => e.code)).toEqual([code]);
  return sink.events[0];
}

describe('AgentTokenGuard on a Fastify app', () => {
  it('releases to an agent token and exposes the principal', async () => {
    const res = await release(main.url, sign(key, claims(ISS)));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ agent: 'agent-1', actorChain: ['agent-1'], tenant: 'acme', subject: 'user-1' });
    expect(sink.events).toEqual([]);
  });

  it('401 without a bearer token, or with another scheme', async () => {
    await expectRejected(await release(main.url), 401, 'invalid_token');
    sink.events.length = 0;
    const basic = await fetch(`${main.url}/v1/connections/github/token`, {
      method: 'POST',
      headers: { authorization: 'Basic dXNlcjpwYXNz' },
    });
    await expectRejected(basic, 401, 'invalid_token');
  });

  it('401 for alg none, audited with the route and no identity', async () => {
    const event = await expectRejected(await release(main.url, craft({ alg: 'none' }, claims(ISS))), 401, 'invalid_token');
    expect(event).toEqual({
      code: 'invalid_token',
      reason: 'token algorithm is not accepted',
      route: 'POST /v1/connections/:integration/token',
    });
  });

  it('401 for HS256 signed with the RSA public key, and for an expired token', async () => {
    const pem = key.publicKey.export({ format: 'pem', type: 'spki' });
    await expectRejected(await release(main.url, hs256({ kid: key.kid }, claims(ISS), pem)), 401, 'invalid_token');
    sink.events.length = 0;
    await expectRejected(await release(main.url, sign(key, claims(ISS, { exp: now() - 120 }))), 401, 'invalid_token');
  });

  it('403 not_an_agent_token for a user token (no act); 401 for an act without sub', async () => {
    const event = await expectRejected(await release(main.url, sign(key, claims(ISS, { act: undefined }))), 403, 'not_an_agent_token');
    expect(event).toMatchObject({ issuer: ISS, tenant: 'acme', subject: 'user-1', route: 'POST /v1/connections/:integration/token' });
    expect(event.agent).toBeUndefined();
    sink.events.length = 0;
    await expectRejected(await release(main.url, sign(key, claims(ISS, { act: { act: { sub: 'allowed-agent' } } }))), 401, 'invalid_token');
  });

  it('takes the outermost actor of a nested act', async () => {
    const res = await release(main.url, sign(key, claims(ISS, { act: { sub: 'other', act: { sub: 'allowed-agent' } } })));
    expect(await res.json()).toMatchObject({ agent: 'other', actorChain: ['other', 'allowed-agent'] });
  });

  it('fails closed with the sink error when the sink throws', async () => {
    sink.fail = true;
    const res = await release(main.url, craft({ alg: 'none' }, claims(ISS)));
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ code: 'unavailable' });
  });

  it('keeps apps apart: each verifies against its own audience and reports to its own sink', async () => {
    const forOther = sign(key, claims(ISS, { aud: 'https://other.vault' }));
    expect((await release(other.url, forOther)).status).toBe(200);
    expect((await release(main.url, forOther)).status).toBe(401);
    expect((await release(other.url, sign(key, claims(ISS)))).status).toBe(401);
    expect(sink.events.map((e) => e.code)).toEqual(['invalid_token']);
    expect(otherSink.events.map((e) => e.code)).toEqual(['invalid_token']);
  });
});

describe('AdminGuard', () => {
  it('403 forbidden without vault:admin', async () => {
    const event = await expectRejected(await whoami(sign(key, claims(ISS, { act: undefined }))), 403, 'forbidden');
    expect(event).toMatchObject({ route: 'GET /v1/admin/whoami', subject: 'user-1', tenant: 'acme' });
  });

  it('admits a vault:admin token for the tenant of its claim', async () => {
    const res = await whoami(sign(key, claims(ISS, { act: undefined, sub: 'admin-1', tid: 'globex', scope: 'openid vault:admin' })));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ tenant: 'globex', subject: 'admin-1' });
  });

  it('403 not_a_user_token for a vault:admin token that carries act (issue 22), audited with the agent', async () => {
    const event = await expectRejected(
      await whoami(sign(key, claims(ISS, { sub: 'admin-1', scope: 'vault:admin', act: { sub: 'agent-1' } }))),
      403,
      'not_a_user_token',
    );
    expect(event).toMatchObject({ route: 'GET /v1/admin/whoami', subject: 'admin-1', tenant: 'acme', agent: 'agent-1' });
  });

  it('401 before 403: an invalid token is invalid_token even when it claims vault:admin', async () => {
    await expectRejected(await whoami(craft({ alg: 'none' }, claims(ISS, { scope: 'vault:admin' }))), 401, 'invalid_token');
  });
});

describe('Authorization header (issue 14 §4)', () => {
  it.each([
    ['two spaces', (t: string) => `Bearer  ${t}`],
    ['trailing text', (t: string) => `Bearer ${t} extra`],
    ['a second credential', (t: string) => `Bearer ${t}, Bearer ${t}`],
    ['a tab', (t: string) => `Bearer\t${t}`],
    ['no space', (t: string) => `Bearer${t}`],
    ['another scheme', (t: string) => `DPoPx ${t}`],
    ['characters outside token68', (t: string) => `Bearer ${t}#`],
  ])('%s → 401 invalid_token, audited', async (_what, header) => {
    const res = await fetch(`${main.url}/v1/connections/github/token`, {
      method: 'POST',
      headers: { authorization: header(sign(key, claims(ISS))) },
    });
    await expectRejected(res, 401, 'invalid_token');
  });

  it('the scheme is case-insensitive (RFC 9110 §11.1)', async () => {
    const res = await fetch(`${main.url}/v1/connections/github/token`, {
      method: 'POST',
      headers: { authorization: `bearer ${sign(key, claims(ISS))}` },
    });
    expect(res.status).toBe(200);
  });
});

describe('@Principal()', () => {
  it('fails closed (500) on a route without a guard', async () => {
    expect((await fetch(`${main.url}/unguarded`)).status).toBe(500);
  });
});
