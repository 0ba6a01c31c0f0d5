/** Longest logo URL accepted: a CSP header and every page carry it. */
export const LOGO_URL_MAX = 2048;
export const DISPLAY_NAME_MAX = 100;
const HOST_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Why a logo URL is refused, or null when it may be shown. The browser of every person who opens
 * a consent page fetches it, and the page's Content-Security-Policy names its origin, so only a
 * plain https URL is accepted: no `javascript:`, `data:`, `http:` or other scheme, no user name or
 * password in it, printable ASCII only (an internationalised host in its punycode form), and a host
 * that is a name, not an IP address (a logo on an address in the person's own network is refused).
 */
export function logoUrlProblem(raw: string): string | null {
  if (raw.length > LOGO_URL_MAX) return `must be at most ${LOGO_URL_MAX} characters`;
  if (!/^[\x21-\x7e]+$/.test(raw)) return 'must be printable ASCII without spaces (write an internationalised host in punycode)';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute https URL';
  }
  if (url.protocol !== 'https:') return 'must be an https URL (no http:, data:, javascript: or other scheme)';
  if (url.username || url.password) return 'must not contain a user name or password';
  if (!url.hostname || /^[\d.]+$/.test(url.hostname) || url.hostname.startsWith('[')) return 'must name its host, not an IP address';
  if (!url.hostname.includes('.') || url.hostname.endsWith('.localhost') || url.hostname === 'localhost')
    return 'must name a public host (a dotted domain name)';
  // The origin goes into the pages' CSP header: only what CSP's host-source grammar allows (WHATWG URL admits `;` or `,`).
  if (!url.hostname.split('.').every((label) => HOST_LABEL.test(label)))
    return 'must have a host of letters, digits and hyphens only (each dot-separated part at most 63 characters)';
  if (url.href.length > LOGO_URL_MAX) return `must be at most ${LOGO_URL_MAX} characters`;
  return null;
}

/** Why a display name is refused, or null. It is shown escaped; control characters and bidi overrides would still mislead. */
export function displayNameProblem(raw: string): string | null {
  const name = raw.trim();
  if (!name) return 'must not be empty';
  if ([...name].length > DISPLAY_NAME_MAX) return `must be at most ${DISPLAY_NAME_MAX} characters`;
  // Control characters, and the bidirectional overrides and isolates that can make text read as something else.
  if (/[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069]/u.test(name)) return 'must not contain control or text-direction characters';
  return null;
}
