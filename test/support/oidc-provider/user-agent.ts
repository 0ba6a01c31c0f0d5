/**
 * A headless user agent for flows over plain HTTP: a cookie jar per origin, redirects followed
 * one by one (so a test sees every hop), and the authorization server's login and consent forms
 * filled in and submitted. `rewrite` maps the vault's public URL to where it really listens.
 */
export interface Hop {
  status: number;
  url: string;
  location?: string;
  body: string;
  headers: Headers;
}

export class UserAgent {
  private readonly jar = new Map<string, Map<string, string>>();

  constructor(private readonly rewrite: (url: string) => string = (u) => u) {}

  async request(method: 'GET' | 'POST', url: string, form?: Record<string, string>, headers: Record<string, string> = {}): Promise<Hop> {
    const target = new URL(this.rewrite(url));
    const cookies = [...(this.jar.get(target.origin) ?? new Map())].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(target, {
      method,
      redirect: 'manual',
      headers: {
        ...(cookies ? { cookie: cookies } : {}),
        ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        ...headers,
      },
      body: form ? new URLSearchParams(form).toString() : undefined,
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      const jar = this.jar.get(target.origin) ?? new Map<string, string>();
      if (/max-age=0|expires=Thu, 01 Jan 1970/i.test(c)) jar.delete(pair.slice(0, eq).trim());
      else jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
      this.jar.set(target.origin, jar);
    }
    const location = res.headers.get('location') ?? undefined;
    return {
      status: res.status,
      url,
      location: location ? new URL(location, url).toString() : undefined,
      body: await res.text(),
      headers: res.headers,
    };
  }

  get(url: string): Promise<Hop> {
    return this.request('GET', url);
  }

  post(url: string, form: Record<string, string>, headers?: Record<string, string>): Promise<Hop> {
    return this.request('POST', url, form, headers);
  }

  /** Cookies this agent holds for an origin (after rewriting). */
  cookies(url: string): Map<string, string> {
    return this.jar.get(new URL(this.rewrite(url)).origin) ?? new Map();
  }

  dropCookies(url: string): void {
    this.jar.delete(new URL(this.rewrite(url)).origin);
  }

  /**
   * At the authorization server: follows redirects and fills its login (as `login`) and consent
   * forms until a redirect leaves for `stopAt` (the vault's callback). Returns that redirect URL.
   */
  async authorizeAt(authorizeUrl: string, stopAt: string, login = 'alice', opts: { deny?: boolean } = {}): Promise<string> {
    let hop = await this.get(authorizeUrl);
    for (let i = 0; i < 20; i++) {
      if (hop.location) {
        if (hop.location.startsWith(stopAt)) return hop.location;
        hop = await this.get(hop.location);
        continue;
      }
      if (hop.status !== 200) throw new Error(`authorization server answered ${hop.status}: ${hop.body.slice(0, 300)}`);
      const form = parseForm(hop.body);
      if (!form) throw new Error(`no form on ${hop.url}`);
      if (opts.deny && form.fields.prompt === 'consent') {
        const abort = /href="([^"]*\/abort)"/.exec(hop.body)?.[1];
        hop = await this.get(new URL(abort!, hop.url).toString());
        continue;
      }
      if (form.fields.prompt === 'login') Object.assign(form.fields, { login, password: 'any-password' });
      hop = await this.post(new URL(form.action, hop.url).toString(), form.fields);
    }
    throw new Error('too many hops at the authorization server');
  }
}

/** The first POST form of a page: its action and every named input's value. */
export function parseForm(html: string, actionPattern?: RegExp): { action: string; fields: Record<string, string> } | undefined {
  const forms = [...html.matchAll(/<form\b[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/g)];
  const m = actionPattern ? forms.find((f) => actionPattern.test(f[1])) : forms[0];
  if (!m) return undefined;
  const fields: Record<string, string> = {};
  for (const input of m[2].matchAll(/<input\b[^>]*>/g)) {
    const name = /name="([^"]*)"/.exec(input[0])?.[1];
    if (name) fields[name] = decode(/value="([^"]*)"/.exec(input[0])?.[1] ?? '');
  }
  return { action: decode(m[1]), fields };
}

function decode(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}
