import type { FastifyReply } from 'fastify';
import { randomBytes } from 'node:crypto';

/** HTML that is already safe: only `html` and `raw` make one. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"'`]/g, (c) => ESCAPES[c]);
}

/** For trusted markup built here (never for data). */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup);
}

/**
 * A template tag that escapes every interpolated value (SECURITY 19: output escaped) unless it
 * is `SafeHtml`; arrays are joined, null/undefined/false render as nothing.
 *
 * @example html`<p>${user.name}</p>` // <p>&lt;script&gt;…</p>
 */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0];
  values.forEach((v, i) => (out += render(v) + strings[i + 1]));
  return new SafeHtml(out);
}

function render(v: unknown): string {
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  if (v === null || v === undefined || v === false) return '';
  return escapeHtml(String(v));
}

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#57606a;--bg:#f6f8fa;--card:#fff;--line:#d0d7de;--accent:#0b5cad;--warn:#9a3412}
@media (prefers-color-scheme:dark){
:root{--fg:#e6edf3;--muted:#9da7b3;--bg:#0d1117;--card:#161b22;--line:#30363d;--accent:#58a6ff;--warn:#fb923c}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:46rem;margin:3rem auto;padding:2rem;background:var(--card);border:1px solid var(--line);border-radius:12px}
h1{font-size:1.5rem;margin:.25rem 0 1rem}h2{font-size:1.05rem;margin:1.5rem 0 .5rem}.eyebrow{color:var(--muted);margin:0;font-size:.9rem}
ul{padding-left:1.25rem}li{margin:.25rem 0}code{font-size:.85em;color:var(--muted);word-break:break-all}
.note{border-left:4px solid var(--accent);padding:.5rem .75rem;background:var(--bg)}.error{border-left-color:var(--warn)}
.actions{display:flex;gap:.75rem;flex-wrap:wrap;margin-top:1.5rem}form{margin:0}
button,.button{font:inherit;padding:.6rem 1.2rem;border-radius:8px;border:1px solid var(--line);background:var(--card);
color:var(--fg);cursor:pointer;text-decoration:none;display:inline-block}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
button:focus-visible,a:focus-visible,input:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
label{display:block;font-weight:600;margin:1rem 0 .25rem}
input[type=password]{font:inherit;width:100%;padding:.5rem;border:1px solid var(--line);border-radius:6px;background:var(--bg);
color:var(--fg)}
table{width:100%;border-collapse:collapse;margin-top:1rem}
th,td{text-align:left;padding:.5rem;border-bottom:1px solid var(--line);vertical-align:top}
td .actions{margin:0}a{color:var(--accent)}.muted{color:var(--muted)}
.logo{height:2rem;max-width:8rem;object-fit:contain;vertical-align:middle;margin-right:.5rem}
`;

export interface PageOptions {
  /** Origins forms on this page may be redirected to after submitting (CSP form-action checks redirects). */
  formAction?: string[];
  /**
   * The tenant's logo, if it has one: its origin is the only one besides the vault's own that the
   * page's CSP lets images come from (the URL was validated as https with a host name when set).
   */
  logoUrl?: string | null;
}

/**
 * Sends a page: no external assets, inline CSS under a per-response nonce, a CSP that allows
 * nothing else, `no-store`, no referrer to other origins (URLs here carry one-time secrets; a same-origin
 * referrer keeps the `Origin` header of form posts, which no-referrer would turn into "null"), no framing.
 */
export function sendPage(reply: FastifyReply, status: number, title: string, body: SafeHtml, opts: PageOptions = {}): void {
  const nonce = randomBytes(16).toString('base64');
  const formAction = ["'self'", ...new Set(opts.formAction ?? [])].join(' ');
  const imgSrc = ["'self'", ...(opts.logoUrl ? [new URL(opts.logoUrl).origin] : [])].join(' ');
  pageHeaders(reply)
    .status(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header(
      'content-security-policy',
      `default-src 'none'; style-src 'nonce-${nonce}'; img-src ${imgSrc}; form-action ${formAction}; ` +
        `frame-ancestors 'none'; base-uri 'none'`,
    )
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
        `<meta name="referrer" content="same-origin"><title>${escapeHtml(title)}</title><style nonce="${nonce}">${STYLE}</style></head>` +
        `<body>${body.value}</body></html>`,
    );
}

/** 303 See Other, with the same caching and referrer rules as a page. */
export function redirect(reply: FastifyReply, location: string, setCookie?: string): void {
  const r = pageHeaders(reply).status(303).header('location', location);
  if (setCookie) r.header('set-cookie', setCookie);
  r.send();
}

function pageHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('cache-control', 'no-store')
    .header('pragma', 'no-cache')
    .header('referrer-policy', 'same-origin')
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('cross-origin-opener-policy', 'same-origin');
}
