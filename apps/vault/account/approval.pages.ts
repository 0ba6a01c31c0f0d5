import type { ApprovalView } from '../../../libs/approvals';
import type { AccountConnection } from '../../../libs/connect';
import { postForm, tenantEyebrow } from '../connect/pages/consent.pages';
import { html, SafeHtml } from '../connect/pages/html';

const when = (d: Date) => d.toISOString().replace('T', ' ').slice(0, 16) + ' UTC';

const STATE: Record<ApprovalView['status'], string> = {
  pending: '',
  approved: 'You approved this request.',
  issued: 'You approved this request, and the agent has used it.',
  denied: 'You denied this request.',
  expired: 'This request has expired. Nothing was approved.',
};

/** One RFC 9396 object as its fields: the `type` first, every other field as short text (a page, not a JSON viewer). */
function detailRows(d: Record<string, unknown>): SafeHtml {
  const rows = Object.entries(d)
    .filter(([k]) => k !== 'type')
    .slice(0, 20)
    .map(([k, v]) => html`<li><code>${k}</code>: ${(typeof v === 'string' ? v : JSON.stringify(v)).slice(0, 300)}</li>`);
  return html`<li><strong>${String(d.type)}</strong>${rows.length ? html`<ul>${rows}</ul>` : ''}</li>`;
}

/** The approval page: the tenant (name, logo), who asks, for which accounts, the agent's message and details; Approve / Deny while pending. */
export function approvalPage(
  base: string,
  who: string,
  v: ApprovalView,
  csrf: string,
  mine: ReadonlyMap<string, AccountConnection>,
  tenant: { name: string; logoUrl: string | null },
): SafeHtml {
  const action = (answer: 'approve' | 'deny') => `${base}/account/approvals/${v.id}/${answer}`;
  const uses = v.integrations.map((i) => {
    const c = mine.get(i.name);
    const what = c?.kind === 'oauth2' ? 'an access token for' : 'the key of';
    const scopes = c?.scopes.length ? html`<ul>${c.scopes.map((s) => html`<li>${s.description} <code>${s.scope}</code></li>`)}</ul>` : '';
    return html`<li data-integration="${i.name}">Get ${c ? what : 'a credential for'} your <strong>${i.title}</strong> account${c?.account ? html` <strong>${c.account}</strong>` : ''} <code>connections:${i.name}</code>${c ? '' : html` <span class="muted">(you have not connected it)</span>`}${scopes}</li>`;
  });
  const r = v.resource;
  // A resource's scopes in plain words: the admin's description first, the scope's name beside it.
  const asks = r
    ? html`<p>Use <strong>${r.title}</strong> <code>${r.identifier}</code> as you, allowed to:</p>
    <ul class="scopes" id="resource-scopes">${r.scopes.map((s) => html`<li data-scope="${s.scope}">${s.description || s.scope} <code>${s.scope}</code></li>`)}</ul>`
    : html`<ul class="scopes">${uses}</ul>`;
  return html`<main>${tenantEyebrow(tenant.name, tenant.logoUrl)}<p class="eyebrow">Signed in as ${who}</p><h1>Approve ${v.agent.name}?</h1>
    <p><strong>${v.agent.name}</strong> <code>${v.agent.clientId}</code> asks to act on your behalf:</p>
    ${asks}
    ${v.bindingMessage ? html`<p>Its message: <q id="binding-message">${v.bindingMessage}</q> — check it matches what the app shows you.</p>` : ''}
    ${v.details.length ? html`<h2>Details</h2><ul id="details">${v.details.map(detailRows)}</ul>` : ''}
    ${
      v.status === 'pending'
        ? html`<p class="muted">Unanswered, the request expires at ${when(v.expiresAt)}.</p>
    <div class="actions">
      ${postForm(action('approve'), csrf, html`<button type="submit" class="primary">Approve</button>`)}
      ${postForm(action('deny'), csrf, html`<button type="submit">Deny</button>`)}</div>`
        : html`<p class="note" role="status">${STATE[v.status]}</p>`
    }
    <div class="actions"><a class="button" href="${base}/account">Your account</a></div></main>`;
}
