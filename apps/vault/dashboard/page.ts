import type { FastifyReply } from 'fastify';
import { randomBytes } from 'node:crypto';
import { escapeHtml, SafeHtml } from '../connect/pages/html';

/** Wider than the consent pages (tables and a chart), same palette; inline under the response's nonce. */
const STYLE = `
:root{color-scheme:light dark;--fg:#1b1f24;--muted:#57606a;--bg:#f6f8fa;--card:#fff;--line:#d0d7de;--accent:#0b5cad;
--warn:#9a3412;--bar:#0b5cad}
@media (prefers-color-scheme:dark){
:root{--fg:#e6edf3;--muted:#9da7b3;--bg:#0d1117;--card:#161b22;--line:#30363d;--accent:#58a6ff;--warn:#fb923c;--bar:#58a6ff}}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:var(--card);padding:.5rem;z-index:1}
header.top{display:flex;justify-content:space-between;align-items:center;gap:1rem;max-width:72rem;margin:1.5rem auto 0;padding:0 1rem}
main{max-width:72rem;margin:1rem auto 3rem;padding:0 1rem;display:grid;gap:1rem;grid-template-columns:repeat(auto-fit,minmax(30rem,1fr))}
main.narrow{max-width:34rem;display:block}
section{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:1rem 1.25rem;min-width:0}
h1{font-size:1.4rem;margin:0}h2{font-size:1.05rem;margin:0 0 .75rem}.eyebrow{color:var(--muted);margin:0;font-size:.9rem}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
td.n,th.n{text-align:right}caption{text-align:left;color:var(--muted);padding-bottom:.5rem}
code{font-size:.85em;color:var(--muted);overflow-wrap:anywhere}th code,td code,.nowrap{white-space:nowrap;overflow-wrap:normal}
span.warn{color:var(--warn);font-weight:600}
section h2+p,section>h2:not(:first-child){margin-top:1.25rem}.muted{color:var(--muted)}
.allowed{color:inherit}.denied,.error{color:var(--warn);font-weight:600}
.note{border-left:4px solid var(--accent);padding:.5rem .75rem;background:var(--bg)}.note.warn{border-left-color:var(--warn)}
svg.chart{width:100%;height:auto;display:block}svg .bar{fill:var(--bar)}svg .axis{stroke:var(--line)}
svg text{fill:var(--muted);font-size:17px}
progress{width:8rem;vertical-align:middle}details{margin-top:.5rem}summary{cursor:pointer}
label{display:block;font-weight:600;margin:1rem 0 .25rem}
textarea{font:13px/1.4 ui-monospace,monospace;width:100%;padding:.5rem;border:1px solid var(--line);border-radius:6px;
background:var(--bg);color:var(--fg)}
button{font:inherit;padding:.5rem 1rem;border-radius:8px;border:1px solid var(--line);background:var(--card);color:var(--fg);cursor:pointer}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff;margin-top:1rem}form{margin:0}
button:focus-visible,a:focus-visible,textarea:focus-visible,summary:focus-visible{outline:3px solid var(--accent);
outline-offset:2px}a{color:var(--accent)}
`;

/**
 * Sends a dashboard page: no script, no external asset, inline CSS under a per-response nonce and
 * a CSP that allows nothing else (the chart is inline SVG with presentation attributes), forms
 * posting only to the vault, no framing, `no-store` (the page shows a tenant's activity).
 */
export function sendDashboardPage(
  reply: FastifyReply,
  status: number,
  title: string,
  body: SafeHtml,
  headers: Record<string, string | string[]> = {},
): void {
  const nonce = randomBytes(16).toString('base64');
  for (const [k, v] of Object.entries(headers)) reply.header(k, v);
  reply
    .status(status)
    .header('cache-control', 'no-store')
    .header('pragma', 'no-cache')
    .header('referrer-policy', 'same-origin')
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cross-origin-resource-policy', 'same-origin')
    .header('content-type', 'text/html; charset=utf-8')
    .header(
      'content-security-policy',
      `default-src 'none'; style-src 'nonce-${nonce}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
    )
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
        `<meta name="referrer" content="same-origin"><title>${escapeHtml(title)}</title><style nonce="${nonce}">${STYLE}</style></head>` +
        `<body>${body.value}</body></html>`,
    );
}

/** 303 See Other to a dashboard page, with the same caching rules. */
export function redirectTo(reply: FastifyReply, location: string, setCookie: string[]): void {
  reply.status(303).header('cache-control', 'no-store').header('location', location).header('set-cookie', setCookie).send();
}
