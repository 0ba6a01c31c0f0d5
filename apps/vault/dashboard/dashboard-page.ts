import { html, SafeHtml } from '../connect/pages/html';
import { CONNECTION_STATUSES, DashboardView } from './dashboard.service';
import { refreshChart } from './refresh-chart';

const STATUS_LABEL: Record<string, string> = {
  active: 'Active',
  needs_reauth: 'Needs reconnecting',
  refresh_indeterminate: 'Being checked',
  revoked: 'Revoked',
};
const when = (d: Date | string) => new Date(d).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
const pct = (x: number) => `${Math.round(x * 100)}%`;

function csrfInput(csrf: string): SafeHtml {
  return html`<input type="hidden" name="csrf" value="${csrf}">`;
}

function topBar(view: DashboardView, csrf: string): SafeHtml {
  return html`<a class="skip" href="#main">Skip to the figures</a>
    <header class="top"><div><p class="eyebrow">Tenant ${view.tenant} · as of ${when(view.generatedAt)}</p><h1>Operator dashboard</h1></div>
    <form method="post" action="/dashboard/session/end">${csrfInput(csrf)}<button type="submit">Sign out</button></form></header>`;
}

function connectionsSection(c: DashboardView['connections']): SafeHtml {
  const head = CONNECTION_STATUSES.map((s) => html`<th scope="col" class="n">${STATUS_LABEL[s]}</th>`);
  const rows = c.rows.map(
    (r) => html`<tr><th scope="row"><code>${r.integration}</code> <span class="muted">${r.provider}</span></th>
      ${CONNECTION_STATUSES.map((s) => html`<td class="n" data-integration="${r.integration}" data-status="${s}">${r.counts[s] ?? 0}</td>`)}
      <td class="n" data-integration="${r.integration}" data-status="total">${r.total}</td></tr>`,
  );
  const totals = CONNECTION_STATUSES.map((s) => html`<td class="n" data-integration="*" data-status="${s}">${c.byStatus[s] ?? 0}</td>`);
  return html`<section aria-labelledby="conn-h"><h2 id="conn-h">Connections by status and integration</h2>
    ${
      c.rows.length
        ? html`<table><caption>${c.total} connection${c.total === 1 ? '' : 's'}</caption>
        <thead><tr><th scope="col">Integration</th>${head}<th scope="col" class="n">Total</th></tr></thead>
        <tbody>${rows}</tbody>
        <tfoot><tr><th scope="row">All integrations</th>${totals}<td class="n" data-integration="*" data-status="total">${c.total}</td></tr>
          </tfoot></table>`
        : html`<p class="muted">No connections yet.</p>`
    }</section>`;
}

function refreshSection(r: DashboardView['refreshFailures']): SafeHtml {
  const rows = r.hours
    .filter((h) => h.count > 0)
    .map(
      (h) => html`<tr><th scope="row">${when(h.start).slice(0, 13)}:00 UTC</th>
    <td class="n">${h.count}</td></tr>`,
    );
  return html`<section aria-labelledby="refresh-h"><h2 id="refresh-h">Refresh failures, last 24 hours</h2>
    <p><strong data-figure="refresh-failures">${r.total}</strong> failed refresh${r.total === 1 ? '' : 'es'} (provider errors and refused grants).</p>
    ${refreshChart(r.hours, r.total)}
    <details><summary>As a table</summary>${
      rows.length
        ? html`<table><thead><tr><th scope="col">Hour</th><th scope="col" class="n">Failures</th></tr></thead><tbody>${rows}</tbody></table>`
        : html`<p class="muted">No failures.</p>`
    }</details></section>`;
}

function keysSection(k: DashboardView['keys']): SafeHtml {
  const versions = k.versions.map(
    (v) => html`<tr><th scope="row">v${v.version}</th><td data-key-version="${v.version}">${v.status}</td>
      <td class="n" data-key-records="${v.version}">${v.records}</td><td>${when(v.createdAt)}</td></tr>`,
  );
  const jobs = k.jobs.map(
    (j) => html`<tr><th scope="row">${j.kind}</th><td data-job-status>${j.status}</td>
      <td><progress max="1" value="${j.progress}" aria-label="${j.kind} progress">${pct(j.progress)}</progress> <span data-job-progress>${pct(j.progress)}</span> <span class="muted">(${j.done}/${j.total})</span></td>
      <td>${when(j.createdAt)}</td></tr>`,
  );
  return html`<section aria-labelledby="keys-h"><h2 id="keys-h">Key versions in use</h2>
    <p>Active tenant key: <strong data-figure="active-key">${k.activeVersion === null ? 'none' : `v${k.activeVersion}`}</strong>;
      <span data-figure="on-active">${pct(k.onActive)}</span> of records sealed under it.</p>
    ${k.warnings.map((w) => html`<p class="note warn" role="status">${w}</p>`)}
    ${versions.length ? html`<table><thead><tr><th scope="col">Version</th><th scope="col">Status</th><th scope="col" class="n">Records</th><th scope="col">Created</th></tr></thead><tbody>${versions}</tbody></table>` : ''}
    <h2 id="jobs-h">Rotation jobs</h2>
    ${
      jobs.length
        ? html`<table aria-labelledby="jobs-h"><thead><tr><th scope="col">Job</th><th scope="col">Status</th>
        <th scope="col">Progress</th><th scope="col">Started</th></tr></thead><tbody>${jobs}</tbody></table>`
        : html`<p class="muted">No rotation yet.</p>`
    }</section>`;
}

function age(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

function auditSection(a: DashboardView['auditAnchor']): SafeHtml {
  const status = !a.ok
    ? html`<p class="note warn" role="status" data-figure="audit-anchor">The audit log does not match its signed anchors (<code>${a.problem ?? 'unknown'}</code>): run <code>audit verify --anchors</code> against the anchors kept outside.</p>`
    : a.at && a.ageSeconds !== null
      ? html`<p data-figure="audit-anchor">Verified against the signed anchor of <strong>${when(a.at)}</strong> (<span data-figure="audit-anchor-age">${age(a.ageSeconds)}</span> old).</p>`
      : html`<p class="muted" data-figure="audit-anchor">No signed anchor yet.</p>`;
  return html`<section aria-labelledby="audit-h"><h2 id="audit-h">Audit log</h2>${status}</section>`;
}

function releasesSection(view: DashboardView): SafeHtml {
  const t = view.releases24h;
  const rows = view.recentReleases.map(
    (
      e,
    ) => html`<tr data-outcome="${e.outcome}"><td>${when(e.at)}</td><td class="${e.outcome}">${e.outcome}${e.reason ? html` <code>${e.reason}</code>` : ''}</td>
      <td>${e.agent ?? '—'}</td><td>${e.user ?? '—'}</td><td>${e.integration ?? '—'}</td></tr>`,
  );
  return html`<section aria-labelledby="rel-h"><h2 id="rel-h">Recent releases and denials</h2>
    <p>Last 24 hours: <strong data-figure="releases-allowed">${t.allowed}</strong> released,
      <strong data-figure="releases-denied">${t.denied}</strong> denied, <strong data-figure="releases-error">${t.error}</strong> failed.</p>
    ${
      rows.length
        ? html`<table><caption>The ${rows.length} most recent, newest first</caption>
        <thead><tr><th scope="col">When</th><th scope="col">Outcome</th><th scope="col">Agent</th><th scope="col">User</th>
          <th scope="col">Integration</th></tr></thead>
        <tbody>${rows}</tbody></table>`
        : html`<p class="muted">No release yet.</p>`
    }</section>`;
}

type Counted<K extends string> = Array<Record<K, string> & { count: number }>;

function counts<K extends string>(caption: string, key: K, label: string, figure: string, rows: Counted<K>): SafeHtml {
  if (!rows.length) return html``;
  const body = rows.map(
    (r) => html`<tr><th scope="row"><code class="nowrap">${r[key]}</code></th>
      <td class="n" data-${figure}="${r[key]}">${r.count}</td></tr>`,
  );
  return html`<table><caption>${caption}</caption>
    <thead><tr><th scope="col">${label}</th><th scope="col" class="n">Count</th></tr></thead><tbody>${body}</tbody></table>`;
}

function ageAgainst(ageDays: number | null, periodDays: number): SafeHtml {
  if (ageDays === null) return html`age unknown`;
  const days = html`${ageDays} day${ageDays === 1 ? '' : 's'} old`;
  return html`<span class="${ageDays > periodDays ? 'warn' : ''}">${days}</span> (cryptoperiod ${periodDays} days)`;
}

function adminChanges(s: DashboardView['security']): SafeHtml {
  const vault = s.scope === 'vault';
  const rows = s.adminChanges.map(
    (c) => html`<tr data-admin-change="${c.action}"><td>${when(c.at)}</td><td><code class="nowrap">${c.action}</code></td>
      <td>${c.target ?? '—'}</td><td>${c.by ?? '—'}</td>${vault ? html`<td>${c.tenant}</td>` : ''}</tr>`,
  );
  if (!rows.length) return html`<h3 id="changes-h">Admin changes</h3><p class="muted">No admin change yet.</p>`;
  return html`<h3 id="changes-h">Admin changes</h3><table aria-labelledby="changes-h">
    <thead><tr><th scope="col">When</th><th scope="col">Change</th><th scope="col">Of</th><th scope="col">By</th>
      ${vault ? html`<th scope="col">Tenant</th>` : ''}</tr></thead><tbody>${rows}</tbody></table>`;
}

function securitySection(s: DashboardView['security']): SafeHtml {
  const who = s.scope === 'vault' ? 'every tenant, and requests no tenant can be named for' : 'this tenant';
  const plural = (n: number) => (n === 1 ? '' : 's');
  const tenantKey = s.tenantKey.version === null ? 'none' : `v${s.tenantKey.version}`;
  return html`<section aria-labelledby="sec-h"><h2 id="sec-h">Security, last 24 hours</h2>
    <p class="muted" data-figure="security-scope">Covers ${who}.</p>
    <p><strong data-figure="refused-tokens">${s.refusals.total}</strong> refused token${plural(s.refusals.total)};
      <strong data-figure="invalid-client">${s.invalidClient.total}</strong> failed client authentication${plural(s.invalidClient.total)}
      (<code class="nowrap">invalid_client</code>) at the token endpoint.</p>
    ${counts('Refused tokens by reason', 'reason', 'Reason', 'refusal-reason', s.refusals.byReason)}
    ${counts('Refused tokens by issuer', 'issuer', 'Issuer', 'refusal-issuer', s.refusals.byIssuer)}
    ${counts('invalid_client by client', 'client', 'Client', 'invalid-client', s.invalidClient.byClient)}
    <p>KEK <code class="nowrap" data-figure="kek-version">${s.kek.keyId.split('/').pop() ?? s.kek.keyId}</code>:
      ${ageAgainst(s.kek.ageDays, s.kek.periodDays)}.
      Tenant key <strong data-figure="tenant-key-version">${tenantKey}</strong>:
      <span data-figure="tenant-key-age">${ageAgainst(s.tenantKey.ageDays, s.tenantKey.periodDays)}</span>.</p>
    ${adminChanges(s)}</section>`;
}

export function dashboardPage(view: DashboardView, csrf: string): SafeHtml {
  return html`${topBar(view, csrf)}<main id="main">${connectionsSection(view.connections)}${refreshSection(view.refreshFailures)}
    ${keysSection(view.keys)}${auditSection(view.auditAnchor)}${securitySection(view.security)}${releasesSection(view)}</main>`;
}

/** The sign-in form: the token goes in a POST body (never a URL, which logs and history keep). */
export function signInPage(csrf: string, message: string | null): SafeHtml {
  return html`<main class="narrow" id="main"><section aria-labelledby="signin-h"><h1 id="signin-h">Operator dashboard</h1>
    ${message ? html`<p class="note warn" role="alert">${message}</p>` : ''}
    <form method="post" action="/dashboard/session">${csrfInput(csrf)}
      <label for="token">Admin token (<code>vault:admin</code>)</label>
      <textarea id="token" name="token" rows="5" required autocomplete="off" spellcheck="false" autofocus></textarea>
      <p class="muted">The browser keeps it in an HttpOnly cookie for this page only, until it expires or you sign out.</p>
      <button type="submit" class="primary">Sign in</button></form></section></main>`;
}

export function messagePage(title: string, message: string, links: Array<{ href: string; label: string }>): SafeHtml {
  return html`<main class="narrow" id="main"><section><h1>${title}</h1><p class="note warn" role="alert">${message}</p>
    ${links.map((l) => html`<p><a href="${l.href}">${l.label}</a></p>`)}</section></main>`;
}
