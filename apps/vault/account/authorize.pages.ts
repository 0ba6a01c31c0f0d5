import type { Consent, OAuthClientInfo } from '../../../libs/authorization';
import type { Resource } from '../../../libs/resources';
import { postForm } from '../connect/pages/consent.pages';
import { html, SafeHtml } from '../connect/pages/html';

const REASONS: Record<string, string> = {
  role_missing: 'your role does not allow it',
  approval_required: 'it needs a separate approval',
  unknown_scope: 'the service does not offer it',
};

/** Who is asking, in plain words: none of these clients was checked by your organisation. */
function clientLine(c: OAuthClientInfo): SafeHtml {
  const from = c.kind === 'document' ? html` from <strong>${new URL(c.client_id).host}</strong>` : '';
  return html`<strong>${c.client_name}</strong>${from} <span class="note error" data-unverified>unverified</span>`;
}

export function authorizeConsentPage(
  base: string,
  who: string,
  client: OAuthClientInfo,
  resource: Resource,
  granted: Array<{ scope: string; description: string }>,
  refused: Array<{ scope: string; reason: string }>,
  requestId: string,
  csrf: string,
): SafeHtml {
  const action = `${base}/oauth2/authorize/decision`;
  return html`<main><p class="eyebrow">Signed in as ${who}</p>
    <h1>Allow ${client.client_name} to use ${resource.display_name} for you?</h1>
    <p>The app ${clientLine(client)} asks to act as you on <strong>${resource.display_name}</strong> <code>${resource.identifier}</code>.
      Your organisation has not verified this app: allow it only if you started this from an app you trust.</p>
    <h2>It will be able to</h2>
    <ul class="scopes">${granted.map((g) => html`<li data-scope="${g.scope}">${g.description || g.scope} <code>${g.scope}</code></li>`)}</ul>
    ${
      refused.length
        ? html`<h2>It asked for more, which it will not get</h2><ul>${refused.map((r) => html`<li><code>${r.scope}</code>: ${REASONS[r.reason] ?? r.reason}</li>`)}</ul>`
        : ''
    }
    <p class="muted">You can take this back at any time on your account page.</p>
    <div class="actions">
      ${postForm(action, csrf, html`<button type="submit" class="primary" name="decision" value="allow" autofocus>Allow</button>`, { request: requestId })}
      ${postForm(action, csrf, html`<button type="submit" name="decision" value="deny">Deny</button>`, { request: requestId })}
    </div></main>`;
}

/** The "Apps with access" section of /account. */
export function consentsSection(base: string, consents: Consent[], csrf: string): SafeHtml {
  if (!consents.length) return html``;
  const items = consents.map(
    (
      c,
    ) => html`<li data-client="${c.client_id}"><strong>${c.client_name}</strong> <code>${c.client_id}</code> on <code>${c.resource}</code>:
      ${c.scopes.join(', ')}
      ${postForm(
        `${base}/account/authorizations/revoke`,
        csrf,
        html`<button type="submit" aria-label="Revoke ${c.client_name}">Revoke</button>`,
        {
          client_id: c.client_id,
          resource: c.resource,
        },
      )}</li>`,
  );
  return html`<section id="authorizations"><h2>Apps with access</h2><ul>${items}</ul></section>`;
}
