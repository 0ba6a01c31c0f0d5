import { html, SafeHtml } from '../connect/pages/html';

const W = 720;
const H = 220;
/** Room for labels at the page's chart font size (17 units: about 12 px once the chart is scaled to a card). */
const PAD = { left: 44, right: 8, top: 12, bottom: 34 };

const hh = (d: Date) => `${d.toISOString().slice(11, 13)}:00`;

/**
 * Refresh failures per hour as an inline SVG bar chart: no script, no external asset, colours from
 * presentation attributes and classes (the page's CSP forbids style attributes). Each bar has a
 * `<title>` (a tooltip, and its name for assistive technology); the same numbers are in a table below.
 */
export function refreshChart(hours: Array<{ start: Date; count: number }>, total: number): SafeHtml {
  const max = Math.max(1, ...hours.map((h) => h.count));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / hours.length;
  const barW = Math.max(2, slot - 4);
  const y = (n: number) => PAD.top + plotH - (n / max) * plotH;
  const fmt = (n: number) => (Math.round(n * 10) / 10).toString();
  const ticks = [...new Set([0, Math.ceil(max / 2), max])];
  const bars = hours.map((h, i) => {
    const x = PAD.left + i * slot + (slot - barW) / 2;
    const label = `${h.start.toISOString().slice(0, 13).replace('T', ' ')}:00 UTC: ${h.count} refresh failure${h.count === 1 ? '' : 's'}`;
    const bar =
      h.count > 0
        ? html`<rect class="bar" x="${fmt(x)}" y="${fmt(y(h.count))}" width="${fmt(barW)}" height="${fmt(plotH + PAD.top - y(h.count))}" data-hour="${h.start.toISOString()}" data-count="${h.count}"><title>${label}</title></rect>`
        : '';
    const tick =
      i % 3 === 0 || i === hours.length - 1
        ? html`<text x="${fmt(PAD.left + i * slot + slot / 2)}" y="${H - 10}" text-anchor="middle" class="tick">${hh(h.start)}</text>`
        : '';
    return html`${bar}${tick}`;
  });
  const grid = ticks.map(
    (t) =>
      html`<line class="axis" x1="${PAD.left}" x2="${W - PAD.right}" y1="${fmt(y(t))}" y2="${fmt(y(t))}" stroke-width="1"></line><text x="${PAD.left - 6}" y="${fmt(y(t) + 5)}" text-anchor="end">${t}</text>`,
  );
  const first = hours[0]?.start;
  const desc =
    `${total} refresh failure${total === 1 ? '' : 's'} in the last ${hours.length} ` +
    `hours${first ? `, hourly from ${first.toISOString().slice(0, 13).replace('T', ' ')}:00 UTC` : ''}; ` +
    `the highest hour has ${max === 1 && total === 0 ? 0 : max}.`;
  return html`<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="chart-title chart-desc" focusable="false">
    <title id="chart-title">Refresh failures per hour, last ${hours.length} hours (UTC)</title><desc id="chart-desc">${desc}</desc>
    ${grid}${bars}</svg>`;
}
