import { z } from 'zod';

/** Asymmetric algorithms only: JWKS carry public keys, so HS* and `none` are never acceptable. */
export const ALLOWED_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'] as const;
export type JwtAlgorithm = (typeof ALLOWED_ALGORITHMS)[number];

export const USER_INFO = { message: 'must not carry user info (user:password@)' };
/** True unless `url` parses with a user name or password: credentials never travel in a configured URL. */
export function noUserInfo(url: string): boolean {
  try {
    const u = new URL(url);
    return !u.username && !u.password;
  } catch {
    return true; // .url() reports it
  }
}

const jwk = z.object({ kty: z.string(), kid: z.string().optional() }).passthrough();

export const trustedIssuerSchema = z
  .object({
    issuer: z.string().url().refine(noUserInfo, USER_INFO),
    jwks_uri: z.string().url().refine(noUserInfo, USER_INFO).optional(),
    jwks: z
      .object({ keys: z.array(jwk).min(1) })
      .strict()
      .optional(),
    algorithms: z.array(z.enum(ALLOWED_ALGORITHMS)).min(1),
    tenant_claim: z.string().min(1).default('tid'),
    default_tenant: z.string().min(1).optional(),
    /** RFC 8725 §3.11: the JWT `typ` this issuer's tokens must carry (e.g. `at+jwt`), so an ID token cannot pass as an access token. */
    require_typ: z
      .string()
      .regex(/^[A-Za-z0-9.+\/-]{1,64}$/, 'must be a media type such as at+jwt')
      .optional(),
  })
  .strict()
  .refine((v) => Boolean(v.jwks_uri) !== Boolean(v.jwks), { message: 'exactly one of jwks_uri or jwks is required' });

export type TrustedIssuer = z.infer<typeof trustedIssuerSchema>;

export const trustedIssuersSchema = z.array(trustedIssuerSchema);
