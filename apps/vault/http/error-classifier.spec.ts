import { HttpException, Logger } from '@nestjs/common';
import { DomainError, ErrorCode, ErrorCodes, UnavailableError } from '../../../libs/kernel';
import { asInternal, classify } from './error-classifier';

const SECRET = 'sk-live-canary-5e1d';

describe('classify', () => {
  let logged: string[];
  beforeEach(() => {
    logged = [];
    jest.spyOn(Logger.prototype, 'error').mockImplementation((message: unknown) => void logged.push(String(message)));
  });
  afterEach(() => jest.restoreAllMocks());

  it('places every code of the contract: its status, and only internal_error gets an error id', () => {
    for (const code of Object.keys(ErrorCodes) as ErrorCode[]) {
      const c = classify(new DomainError(code, 'public detail'));
      expect(c.status).toBe(ErrorCodes[code]);
      expect(c.origin).toBe('domain');
      if (code === 'internal_error')
        expect(c).toMatchObject({ kind: 'internal', detail: 'An internal error occurred.', errorId: expect.any(String) });
      else {
        expect(c).toMatchObject({ code, detail: 'public detail' });
        expect(c.errorId).toBeUndefined();
      }
    }
    expect(logged).toHaveLength(1);
  });

  it('a domain refusal keeps its extra members and Retry-After; unavailable and not_implemented are their own kinds', () => {
    expect(classify(new DomainError('needs_reauth', 'reconnect', { extra: { connect_url: 'https://x' } }))).toEqual({
      kind: 'refusal',
      origin: 'domain',
      status: 409,
      code: 'needs_reauth',
      detail: 'reconnect',
      extra: { connect_url: 'https://x' },
    });
    expect(classify(new DomainError('rate_limited', 'slow down', { retryAfter: 7 }))).toMatchObject({
      kind: 'refusal',
      status: 429,
      retryAfter: 7,
    });
    expect(classify(new UnavailableError('key provider', 2))).toMatchObject({
      kind: 'unavailable',
      origin: 'domain',
      status: 503,
      code: 'unavailable',
      retryAfter: 2,
    });
    expect(classify(new DomainError('not_implemented', 'no'))).toMatchObject({ kind: 'not_implemented', status: 501 });
    expect(logged).toEqual([]);
  });

  it('a database that is down is unavailable, with a generic detail and nothing of the driver error', () => {
    const err = Object.assign(new Error(`connect ECONNREFUSED password=${SECRET}`), { code: 'ECONNREFUSED' });
    const c = classify(err);
    expect(c).toEqual({
      kind: 'unavailable',
      origin: 'database',
      status: 503,
      code: 'unavailable',
      detail: 'The database is unavailable; nothing was released or stored.',
      retryAfter: 1,
    });
  });

  it("the framework's 4xx are unreadable requests with a stable code and no echo of the request", () => {
    expect(classify(Object.assign(new Error(`Unexpected token in JSON at ${SECRET}`), { statusCode: 400 }))).toEqual({
      kind: 'unreadable',
      origin: 'framework',
      status: 400,
      code: 'invalid_request',
      detail: 'The request body is not valid JSON or is malformed.',
    });
    expect(classify(new HttpException('too big', 413))).toMatchObject({
      kind: 'unreadable',
      code: 'payload_too_large',
      detail: 'Payload Too Large',
    });
    expect(classify(Object.assign(new Error('x'), { statusCode: 418 }))).toMatchObject({
      kind: 'unreadable',
      status: 418,
      code: 'invalid_request',
      detail: 'Client error',
    });
  });

  it('anything else is internal: an opaque answer, logged once by class and code under the same error id, never its message', () => {
    const err = Object.assign(new TypeError(`cannot read ${SECRET}`), { code: '23514' });
    const c = classify(err);
    expect(c).toEqual({
      kind: 'internal',
      origin: 'unknown',
      status: 500,
      code: 'internal_error',
      detail: 'An internal error occurred.',
      errorId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(logged).toEqual([`error_id=${c.errorId} type=TypeError code=23514`]);

    // Free text in a name or code is not logged either.
    asInternal(Object.assign(new Error('m'), { name: `Bad ${SECRET}`, code: `a b ${SECRET}` }));
    asInternal(`a thrown string ${SECRET}`);
    expect(logged.slice(1)).toEqual([expect.stringMatching(/ type=Error code=-$/), expect.stringMatching(/ type=Error code=-$/)]);
    expect(logged.join('\n')).not.toContain(SECRET);
  });
});
