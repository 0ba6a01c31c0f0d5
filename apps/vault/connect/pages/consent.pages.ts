import type { ConnectionRow, ConsentView } from '../../../../libs/connect';
import { html, SafeHtml } from './html';

/** A POST form with the CSRF token: every form on these pages is built here (SECURITY 19). */
export function postForm(action: string, csrf: string, inner: SafeHtml, extra: Record<string, string> = {}): SafeHtml {
  const hidden = Object.entries(extra).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`);
  return html`<form method="post" action="${action}"><input type="hidden" name="csrf" value="${csrf}">${hidden}${inner}</form>`;
}

/**
 * What an agent gets differs by integration type, and every sentence must be true for the one
 * shown: OAuth agents get an access token (never the refresh token); API-key agents get the key.
 */
const WHAT_AGENTS_GET = {
  oauth: (v: ConsentView) =>
    html`Agents receive only an access token for your ${v.providerName} account, when they act for you — never your password or the refresh token the vault keeps. Each time one is handed to an agent, that is recorded.`,
  api_key: () =>
    html`Agents receive this API key itself when they act for you: a key cannot be narrowed or made short-lived, so add one with only the access agents need. Each time it is handed to an agent, that is recorded.`,
};

function agentsSection(v: ConsentView, kind: keyof typeof WHAT_AGENTS_GET): SafeHtml {
  const items = v.agents.map(
    (a) =>
      html`<li><strong>${a.name}</strong>${a.clientId ? html` <code>${a.clientId}</code>` : ''}${a.condition ? html` — ${a.condition}` : ''}</li>`,
  );
  return html`<section aria-labelledby="agents-h"><h2 id="agents-h">Agents that may use it</h2>
    ${
      items.length
        ? html`<ul>${items}</ul>`
        : html`<p class="muted">No agent may use it yet.
      An administrator of ${v.tenantName} decides which agents can.</p>`
    }
    <p class="muted">${WHAT_AGENTS_GET[kind](v)}</p></section>`;
}

/**
 * The tenant's name, with its logo when it has one. The logo is fetched by the person's browser
 * from the tenant's host (the CSP admits that origin only, see `sendPage`), without a referrer:
 * consent URLs carry session ids that host has no business seeing.
 */
export function tenantEyebrow(name: string, logoUrl: string | null): SafeHtml {
  const logo = logoUrl ? html`<img class="logo" src="${logoUrl}" alt="" referrerpolicy="no-referrer">` : '';
  return html`<p class="eyebrow">${logo}${name}</p>`;
}

function header(v: ConsentView, heading: string): SafeHtml {
  const who = v.userDisplayName
    ? html`<strong>${v.userDisplayName}</strong> (user <code>${v.user}</code>)`
    : html`user <strong>${v.user}</strong>`;
  return html`${tenantEyebrow(v.tenantName, v.logoUrl)}<h1>${heading}</h1>
    <p><strong>${v.title}</strong> · requested by <strong>${v.tenantName}</strong>${v.returnHost ? html` (${v.returnHost})` : ''}</p>
    <p>This link is for ${who} of ${v.tenantName}. If that is not you, press Cancel.</p>
    ${v.expectedEmail ? html`<p class="note">Sign in as <strong>${v.expectedEmail}</strong>. Another account will be refused.</p>` : ''}`;
}

export function consentPage(v: ConsentView, sessionId: string, csrf: string): SafeHtml {
  const scopes = v.scopes.map((s) => html`<li>${s.description} <code>${s.scope}</code></li>`);
  return html`<main>${header(v, `Connect your ${v.providerName} account`)}
    <section aria-labelledby="scopes-h"><h2 id="scopes-h">What it will be able to do</h2>
      ${scopes.length ? html`<ul>${scopes}</ul>` : html`<p>What the ${v.providerName} app is configured to allow.</p>`}</section>
    ${agentsSection(v, 'oauth')}
    <p>You will sign in at <strong>${v.providerHost ?? v.providerName}</strong>. You can disconnect at any time on <a href="/connections">your connections</a> page.</p>
    <div class="actions">
      ${postForm(`/connect/s/${sessionId}/authorize`, csrf, html`<button type="submit" class="primary" autofocus>Connect</button>`)}
      ${postForm(`/connect/s/${sessionId}/cancel`, csrf, html`<button type="submit">Cancel</button>`)}
    </div></main>`;
}

export function apiKeyPage(v: ConsentView, sessionId: string, csrf: string): SafeHtml {
  return html`<main>${header(v, `Add your ${v.title} API key`)}
    ${agentsSection(v, 'api_key')}
    ${postForm(
      `/connect/s/${sessionId}/api-key`,
      csrf,
      html`<label for="api_key">API key</label>
      <input id="api_key" name="api_key" type="password" autocomplete="off" spellcheck="false" required maxlength="8192" autofocus>
      <p class="muted">It is stored encrypted, and handed only to agents that policy allows (today, those listed above).</p>
      <div class="actions"><button type="submit" class="primary">Save key</button></div>`,
    )}
    <div class="actions">${postForm(`/connect/s/${sessionId}/cancel`, csrf, html`<button type="submit">Cancel</button>`)}</div></main>`;
}

/** What `GET /connect/{secret}` shows: opening the link does not use it up; Continue does. */
export function openLinkPage(title: string, tenant: { name: string; logoUrl: string | null }, action: string, csrf: string): SafeHtml {
  return html`<main>${tenantEyebrow(tenant.name, tenant.logoUrl)}<h1>Connect your ${title} account</h1>
    <p><strong>${tenant.name}</strong> asks you to connect your ${title} account.
    Continue to see what it will be able to do and which agents may use it.</p>
    <div class="actions">${postForm(action, csrf, html`<button type="submit" class="primary" autofocus>Continue</button>`)}</div></main>`;
}

export function messagePage(title: string, message: string, links: Array<{ href: string; label: string }>, error = false): SafeHtml {
  return html`<main><h1>${title}</h1><p class="note${error ? ' error' : ''}" role="${error ? 'alert' : 'status'}">${message}</p>
    ${links.length ? html`<div class="actions">${links.map((l) => html`<a class="button" href="${l.href}">${l.label}</a>`)}</div>` : ''}</main>`;
}

const STATUS: Record<string, string> = {
  active: 'Connected',
  needs_reauth: 'Needs reconnecting',
  revoked: 'Revoked',
  refresh_indeterminate: 'Being checked',
};

/** The provider account the vault learned at connect time, if any (an API key has none). */
const account = (r: ConnectionRow) => (r.account ? html`<br><span class="account">account <strong>${r.account}</strong></span>` : '');

export function connectionsPage(
  tenant: { name: string; logoUrl: string | null },
  subject: string,
  rows: ConnectionRow[],
  sessionId: string,
  csrf: string,
  notice: string | null,
): SafeHtml {
  const when = (d: Date | string) => new Date(d).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
  const body = rows.map(
    (r) => html`<tr><th scope="row">${r.title}<br><code>${r.integration}</code>${account(r)}</th>
      <td>${STATUS[r.status] ?? r.status}</td><td>${when(r.connectedAt)}</td>
      <td>${r.lastUsed ? html`${r.lastUsed.agent}<br><span class="muted">${when(r.lastUsed.at)}</span>` : html`<span class="muted">Not yet</span>`}</td>
      <td><div class="actions">
        ${postForm(`/connections/${encodeURIComponent(r.integration)}/reconnect`, csrf, html`<button type="submit" aria-label="Reconnect ${r.title}">Reconnect</button>`, { session: sessionId })}
        ${postForm(`/connections/${encodeURIComponent(r.integration)}/disconnect`, csrf, html`<button type="submit" aria-label="Disconnect ${r.title}">Disconnect</button>`, { session: sessionId })}
      </div></td></tr>`,
  );
  return html`<main>${tenantEyebrow(tenant.name, tenant.logoUrl)}
    <p class="eyebrow">Signed in for this visit as ${subject}</p><h1>Your connections</h1>
    ${notice ? html`<p class="note" role="status">${notice}</p>` : ''}
    ${
      rows.length
        ? html`<table><caption class="muted">Accounts you connected, and which agent used each one last.</caption>
        <thead><tr><th scope="col">Account</th><th scope="col">Status</th><th scope="col">Connected</th><th scope="col">Last used by</th><th scope="col"><span class="muted">Actions</span></th></tr></thead>
        <tbody>${body}</tbody></table>`
        : html`<p>You have not connected any account yet.</p>`
    }</main>`;
}
