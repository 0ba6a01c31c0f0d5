import { z } from 'zod';

/**
 * Field types the request schemas (`*.dto.ts`) share. A request schema is a zod object built with
 * `z.strictObject` (unknown fields refused) and named with `.meta({ id })` for the OpenAPI
 * document; `StrictValidationPipe` (validation.ts) runs it through Nest's Standard Schema path.
 */

/** Names in paths and filters (integrations, users, agents): the allowlist of `http/names.ts`. */
export const NAME = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
/** A tenant id. */
export const TENANT = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** An RFC 6749 scope-token. */
export const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]{1,256}$/;

const LABEL = /^[a-z0-9\u00a1-\uffff](?:[a-z0-9\u00a1-\uffff-]{0,61}[a-z0-9\u00a1-\uffff])?$/i;
const TLD = /^(?:[a-z\u00a1-\u00a8\u00aa-\ud7ff\uf900-\ufdcf\ufdf0-\uffef]{2,}|xn--[a-z0-9-]{2,})$/i;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** The host as written (before WHATWG URL normalises `0x7f.1` into `127.0.0.1`): an IP or a DNS name. */
function hostAsWritten(host: string, requireTld: boolean): boolean {
  if (host.startsWith('[')) return /^\[[0-9a-f:.]+\]$/i.test(host);
  if (IPV4.test(host)) return true;
  const labels = host.split('.');
  if (!labels.every((l) => LABEL.test(l))) return false;
  const tld = labels[labels.length - 1];
  if (requireTld) return labels.length > 1 && TLD.test(tld);
  return labels.length === 1 || !/^\d+$/.test(tld);
}

/**
 * An absolute URL with one of `protocols`, a host, and no user-info: what class-validator's
 * `IsUrl({ protocols, require_protocol: true, disallow_auth: true, require_tld })` accepted. No
 * whitespace or `<>` anywhere (the WHATWG parser would silently drop tabs and newlines).
 */
function isHttpUrl(value: string, protocols: readonly string[], requireTld: boolean): boolean {
  if (value.length > 2084 || /[\s<>\p{Cc}]/u.test(value)) return false;
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)/i.exec(value);
  if (!m || !protocols.includes(m[1].toLowerCase()) || m[2].includes('@')) return false;
  const host = m[2].replace(/:\d{1,5}$/, '');
  if (!host || !hostAsWritten(host, requireTld)) return false;
  try {
    const url = new URL(value);
    return url.username === '' && url.password === '' && url.hostname !== '';
  } catch {
    return false;
  }
}

export function httpUrl(opts: { protocols: readonly string[]; requireTld: boolean }) {
  const message = `must be an ${opts.protocols.join(' or ')} URL with a host and no user-info`;
  return z
    .string()
    .refine((v) => isHttpUrl(v, opts.protocols, opts.requireTld), { message })
    .meta({ format: 'uri' });
}

/** A string of `min`..`max` characters. */
export const text = (min: number, max: number) => z.string().min(min).max(max);

/** A string matching `pattern` (its source becomes the documented `pattern`). */
export const matching = (pattern: RegExp, message?: string) => z.string().regex(pattern, message ? { message } : undefined);
