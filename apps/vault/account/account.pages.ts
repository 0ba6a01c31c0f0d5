import type { PendingApproval } from '../../../libs/approvals';
import type { AccountConnection, ActivityRow } from '../../../libs/connect';
import { postForm, tenantEyebrow } from '../connect/pages/consent.pages';
import { html, SafeHtml } from '../connect/pages/html';

const STATUS: Record<string, string> = {
  active: 'Connected',
  needs_reauth: 'Needs reconnecting',
  revoked: 'Revoked',
  refresh_indeterminate: 'Being checked',
};
/** Each kept audit event (libs/connect `AccountViewService.activity`) in plain words; `a` is the agent or app, `c` the account. */
const SAID: Record<string, (a: string, c: string) => string> = {
  'credential.release': (a, c) => `${a} used your ${c} connection`,
  'connection.connect': (_a, c) => `Your ${c} account was connected`,
  'connection.disconnect': (_a, c) => `Your ${c} account was disconnected`,
  'grant.revoke': (a, c) => `You turned ${a} off for ${c}`,
  'grant.restore': (a, c) => `You turned ${a} back on for ${c}`,
  'approval.request': (a) => `${a} asked for your approval`,
  'approval.approve': (a) => `You approved a request from ${a}`,
  'approval.deny': (a) => `You denied a request from ${a}`,
  'token.ciba': (a) => `${a} received the access you approved`,
  'oauth.authorize': (a) => `You let the app ${a} act for you`,
  'oauth.consent_revoke': (a) => `You took back the access of the app ${a}`,
  'user.sign_in': () => 'You signed in',
};
const REFUSED: Record<string, (a: string, c: string) => string> = {
  'credential.release': (a, c) => `Refused: ${a} was not allowed to use your ${c} connection`,
  'approval.request': (a) => `Refused: ${a} could not ask for your approval`,
  'user.sign_in': () => 'Refused: a sign-in as you',
};

function activityText(e: ActivityRow): string {
  const agent = e.agentName ?? e.agent ?? 'An agent';
  const account = e.integrationTitle ?? e.integration ?? 'unnamed';
  if (e.outcome === 'denied') return (REFUSED[e.action] ?? ((a: string) => `Refused: ${a} was not allowed to act for you`))(agent, account);
  return (SAID[e.action] ?? (() => e.action))(agent, account);
}

const when = (d: Date | string) => new Date(d).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';

function agentsOf(base: string, c: AccountConnection, csrf: string): SafeHtml {
  if (!c.agents.length) return html`<p class="muted">No agent may use it.</p>`;
  const items = c.agents.map((a) => {
    const action = `${base}/account/connections/${encodeURIComponent(c.integration)}/agents/${encodeURIComponent(a.clientId)}/${a.on ? 'off' : 'on'}`;
    const label = a.on ? 'Turn off' : 'Turn on';
    return html`<li data-agent="${a.clientId}"><strong>${a.name}</strong> <code>${a.clientId}</code>${a.condition ? html` — ${a.condition}` : ''}
      · <span class="state">${a.on ? 'On' : 'Off'}</span>
      ${postForm(action, csrf, html`<button type="submit" aria-label="${label} ${a.name} for ${c.title}">${label}</button>`)}</li>`;
  });
  return html`<ul>${items}</ul>`;
}

/** Who is signed in, to which tenant, with the roles their sign-in carried. */
export interface AccountHeader {
  tenantName: string;
  logoUrl: string | null;
  who: string;
  roles: string[];
}

function rolesNote(roles: string[]): SafeHtml {
  if (!roles.length) return html``;
  return html`<p class="muted" id="roles">Your roles at sign-in: ${roles.map((r, i) => html`${i ? ', ' : ''}<code>${r}</code>`)}.
    They are shown for your information; what an agent may do for you is decided by the roles in the token the app presents for you.</p>`;
}

export function accountPage(
  base: string,
  head: AccountHeader,
  connections: AccountConnection[],
  activity: ActivityRow[],
  csrf: string,
  notice: string | null,
  apps: SafeHtml = html``,
  pending: PendingApproval[] = [],
): SafeHtml {
  const waiting = pending.map(
    (p) =>
      html`<li><a href="${base}/account/approvals/${p.id}"><strong>${p.agent}</strong> asks to use ${p.resource ? `${p.resource} (${p.scopes.join(', ')})` : p.scopes.map((s) => s.slice('connections:'.length)).join(', ')}</a> · until ${when(p.expiresAt)}</li>`,
  );
  const cards = connections.map(
    (c) => html`<section class="connection" data-integration="${c.integration}" aria-labelledby="c-${c.integration}">
      <h2 id="c-${c.integration}">${c.title} <code>${c.integration}</code></h2>
      <p>${STATUS[c.status] ?? c.status}${c.account ? html` · account <strong>${c.account}</strong>` : ''} · connected ${when(c.connectedAt)}
        · last refresh ${c.lastRefreshAt ? when(c.lastRefreshAt) : html`<span class="muted">never</span>`}
        · last used ${c.lastUsed ? html`by <strong>${c.lastUsed.agent}</strong> ${when(c.lastUsed.at)}` : html`<span class="muted">not yet</span>`}</p>
      ${c.scopes.length ? html`<ul class="scopes">${c.scopes.map((s) => html`<li>${s.description} <code>${s.scope}</code></li>`)}</ul>` : ''}
      <h3>Agents that may use it</h3>${agentsOf(base, c, csrf)}
      <div class="actions"><a class="button" href="${base}/account/connections/${encodeURIComponent(c.integration)}/disconnect">Disconnect…</a></div></section>`,
  );
  // The audit action (and a refusal's reason) stay one hover away, for a person who asks the admin about it.
  const rows = activity.map(
    (e) =>
      html`<tr data-action="${e.action}" data-outcome="${e.outcome}"><td>${when(e.at)}</td><td title="${e.action}${e.reason ? ` (${e.reason})` : ''}">${activityText(e)}</td></tr>`,
  );
  return html`<main>${tenantEyebrow(head.tenantName, head.logoUrl)}<p class="eyebrow">Signed in as ${head.who}</p><h1>Your account</h1>
    ${rolesNote(head.roles)}
    ${notice ? html`<p class="note" role="status">${notice}</p>` : ''}
    ${waiting.length ? html`<section id="approvals"><h2>Waiting for your answer</h2><ul>${waiting}</ul></section>` : ''}
    ${connections.length ? cards : html`<p>You have not connected any account yet.</p>`}
    ${apps}
    <h2>Recent activity</h2>
    ${rows.length ? html`<table id="activity"><thead><tr><th scope="col">When</th><th scope="col">What</th></tr></thead><tbody>${rows}</tbody></table>` : html`<p class="muted">Nothing yet.</p>`}
    <div class="actions">${postForm(`${base}/account/sign-out`, csrf, html`<button type="submit">Sign out</button>`)}</div></main>`;
}

export function disconnectPage(base: string, c: AccountConnection, csrf: string): SafeHtml {
  return html`<main><h1>Disconnect ${c.title}?</h1>
    <p>Agents will no longer receive tokens for it, and the vault asks ${c.title} to revoke its access where it can. You can connect it again later through the app.</p>
    <div class="actions">
      ${postForm(`${base}/account/connections/${encodeURIComponent(c.integration)}/disconnect`, csrf, html`<button type="submit" class="primary">Disconnect</button>`)}
      <a class="button" href="${base}/account">Keep it</a></div></main>`;
}
