import { z } from 'zod';
import { DomainError } from '../../../libs/kernel';
import { httpUrl, text } from './fields';
import { strictValidation } from './validation';

const Inner = z.strictObject({ header_name: text(1, 8).optional() });
const Body = z.strictObject({ name: text(1, 8), scopes: z.array(z.string()).max(2).optional(), api_key: Inner.optional() });
const body = { type: 'body', metatype: Object, data: undefined, schema: Body } as const;

/** The `errors` of the validation_failed the pipe throws, or the parsed value. */
async function run(value: unknown, metadata: Parameters<typeof strictValidation.transform>[1] = body) {
  try {
    return { value: await strictValidation.transform(value, metadata) };
  } catch (e) {
    expect(e).toBeInstanceOf(DomainError);
    const err = e as DomainError;
    expect(err.code).toBe('validation_failed');
    return { detail: err.detail, errors: err.details.extra?.errors as Array<{ field: string; message: string }> };
  }
}

describe('StrictValidationPipe (Standard Schema, zod)', () => {
  it('returns the parsed value; no body at all is an empty object', async () => {
    expect(await run({ name: 'a', scopes: ['x'] })).toEqual({ value: { name: 'a', scopes: ['x'] } });
    expect((await run(undefined)).errors).toEqual([{ field: 'name', message: expect.any(String) }]);
    const Optional = z.strictObject({ n: z.int().optional() });
    expect(await run(undefined, { ...body, schema: Optional })).toEqual({ value: {} });
  });

  it('names each unknown field, at any depth, without quoting odd keys or any value', async () => {
    const r = await run({ name: 'a', tenantId: 'globex', 'x y': 1, api_key: { extra: 'sk-canary' } });
    expect(r.errors).toHaveLength(3);
    expect(r.errors).toEqual(
      expect.arrayContaining([
        { field: 'tenantId', message: 'is not a known field' },
        { field: '(field)', message: 'is not a known field' },
        { field: 'api_key.extra', message: 'is not a known field' },
      ]),
    );
    expect(r.detail).toMatch(/^Invalid request: /);
    expect(r.detail!.slice('Invalid request: '.length).split(', ').sort()).toEqual(['(field)', 'api_key.extra', 'tenantId']);
    expect(JSON.stringify(r)).not.toContain('sk-canary');
    expect(JSON.stringify(r)).not.toContain('x y');
  });

  it('an issue with an array element names the array; wrong types and bounds name the field', async () => {
    const r = await run({ name: 'far too long', scopes: ['a', 1] });
    expect(r.errors?.map((e) => e.field)).toEqual(['name', 'scopes']);
    expect((await run({ name: 'a', scopes: ['a', 'b', 'c'] })).errors?.map((e) => e.field)).toEqual(['scopes']);
    expect(JSON.stringify(r)).not.toContain('far too long');
  });

  it.each([[[]], ['k'], [1], [null], [Object.create(null)]])('a body that is not a JSON object (%j) is (body)', async (value) => {
    expect((await run(value)).errors).toEqual([{ field: '(body)', message: 'must be a JSON object, sent as application/json' }]);
  });

  it('leaves parameters without a schema to their handler', async () => {
    expect(await run([1], { type: 'body', metatype: Object, data: undefined })).toEqual({ value: [1] });
    expect(await run({ a: 1 }, { type: 'query', metatype: Object, data: undefined })).toEqual({ value: { a: 1 } });
  });
});

describe('httpUrl', () => {
  const https = httpUrl({ protocols: ['https'], requireTld: true });
  const any = httpUrl({ protocols: ['https', 'http'], requireTld: false });
  it.each(['https://api.example.com/me', 'https://api.example.com:8443/x?y=1#z', 'https://bücher.example/x', 'https://10.0.0.1/x'])(
    'accepts %s',
    (url) => expect(https.safeParse(url).success).toBe(true),
  );
  it.each([
    'http://api.example.com/',
    'javascript:alert(1)',
    'https://user:pass@api.example.com/',
    'https://user@api.example.com/',
    'https://localhost/x',
    'https://api.example.com/a b',
    'https://api.example.com/a\tb',
    ' https://api.example.com/',
    'https://api.example.com/\n',
    'https://0x7f.1/',
    'https://-bad.example/',
    'https:/api.example.com',
    'api.example.com',
  ])('refuses %j', (url) => expect(https.safeParse(url).success).toBe(false));
  it('refuses a URL longer than 2084 characters', () => {
    expect(https.safeParse(`https://api.example.com/${'a'.repeat(2000)}`).success).toBe(true);
    expect(https.safeParse(`https://api.example.com/${'a'.repeat(2100)}`).success).toBe(false);
  });
  it('without requireTld: single-label hosts and http', () => {
    for (const url of ['http://localhost:8080/auth', 'http://127.0.0.1:9/t', 'https://[::1]:8443/t', 'https://idp/authorize'])
      expect([url, any.safeParse(url).success]).toEqual([url, true]);
    for (const url of ['ftp://idp/x', 'http://u:p@idp/x', 'http://0x7f.1/'])
      expect([url, any.safeParse(url).success]).toEqual([url, false]);
  });
});
