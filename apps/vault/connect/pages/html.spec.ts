import { escapeHtml, html, raw } from './html';

/** SECURITY 19: every value interpolated into a page is escaped unless it is markup built here. */
describe('page templates', () => {
  it('escapes every HTML-significant character of interpolated values', () => {
    const evil = `<script>alert("1")</script>' onmouseover=\`x\` &amp;`;
    const out = html`<p title="${evil}">${evil}</p>`.value;
    expect(out).toBe(`<p title="${escapeHtml(evil)}">${escapeHtml(evil)}</p>`);
    expect(out).not.toMatch(/<script|"1"|' on/);
    expect(escapeHtml(`&<>"'\``)).toBe('&amp;&lt;&gt;&quot;&#39;&#96;');
  });

  it('nests safe fragments and arrays without double escaping; null, undefined and false render as nothing', () => {
    const items = ['a<b', 'c'].map((x) => html`<li>${x}</li>`);
    expect(html`<ul>${items}</ul>${null}${undefined}${false}${raw('<hr>')}`.value).toBe('<ul><li>a&lt;b</li><li>c</li></ul><hr>');
    expect(html`${0}`.value).toBe('0');
  });
});
