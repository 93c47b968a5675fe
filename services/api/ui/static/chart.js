// The stats chart: runs per UTC day (success, failed, aborted stacked), drawn as inline SVG
// from GET .../stats; the same figures as a table for screen readers and keyboards.

import { api } from './api.js';
import { h, utcDay } from './ui.js';

const NS = 'http://www.w3.org/2000/svg';
const KINDS = ['success', 'failed', 'aborted'];
const DAY = 86400;

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(c);
  return el;
}

/** Stats of the last `days` days, today included, for an API path (.../stats). */
export async function loadStats(path, days = 30) {
  const end = Math.floor(Date.now() / 1000);
  const start = end - end % DAY - (days - 1) * DAY;
  return api(`${path}/stats?startTime=${start}&endTime=${end}`);
}

export function chart(stats, label) {
  const days = stats.details || [];
  const W = 720, H = 190, left = 34, right = 18, bottom = 22, top = 8;
  const max = Math.max(1, ...days.map((d) => d.success + d.failed + d.aborted));
  const step = Math.ceil(max / 4);
  const ceiling = step * 4;
  const slot = (W - left - right) / Math.max(1, days.length);
  const y = (n) => top + (H - top - bottom) * (1 - n / ceiling);
  const o = stats.overview || {};
  const summary = `${label}: ${o.total || 0} runs in ${days.length} days, ${o.success || 0} succeeded, ${o.failed || 0} failed, ${o.aborted || 0} aborted (${o.successRatio || '0.00%'} success).`;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': summary, class: 'stats-svg' });
  for (let i = 0; i <= 4; i++) {
    const v = step * i;
    svg.append(s('line', { x1: left, x2: W - right, y1: y(v), y2: y(v), class: 'axis' }));
    svg.append(s('text', { x: left - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(v)));
  }
  days.forEach((d, i) => {
    const x = left + i * slot + slot * 0.15;
    const w = Math.max(1, slot * 0.7);
    let base = 0;
    const g = s('g', { class: 'day' });
    const date = utcDay(new Date(d.timestamp * 1000));
    g.append(s('title', {}, `${date}: ${d.success} success, ${d.failed} failed, ${d.aborted} aborted`));
    for (const k of KINDS) {
      if (!d[k]) continue;
      g.append(s('rect', { x, width: w, y: y(base + d[k]), height: y(base) - y(base + d[k]), class: `b-${k}`, 'data-kind': k }));
      base += d[k];
    }
    g.append(s('rect', { x: left + i * slot, width: slot, y: top, height: H - top - bottom, fill: 'transparent' }));
    svg.append(g);
    if (i % 5 === (days.length - 1) % 5) svg.append(s('text', { x: x + w / 2, y: H - 6, 'text-anchor': 'middle' }, date));
  });
  const rows = days.filter((d) => d.success + d.failed + d.aborted).map((d) =>
    h('tr', {}, h('td', {}, utcDay(new Date(d.timestamp * 1000))), h('td', {}, d.success), h('td', {}, d.failed), h('td', {}, d.aborted)));
  return h('div', { class: 'chart' },
    svg,
    h('div', { class: 'legend', 'aria-hidden': 'true' },
      h('span', { class: 'l-success' }, `Success ${o.success || 0}`),
      h('span', { class: 'l-failed' }, `Failed ${o.failed || 0}`),
      h('span', { class: 'l-aborted' }, `Aborted ${o.aborted || 0}`),
      h('span', {}, `${o.successRatio || '0.00%'} success`)),
    h('details', {}, h('summary', {}, 'Show as a table'),
      rows.length
        ? h('table', { class: 'list' }, h('thead', {}, h('tr', {}, h('th', {}, 'Day (UTC)'), h('th', {}, 'Success'), h('th', {}, 'Failed'), h('th', {}, 'Aborted'))), h('tbody', {}, rows))
        : h('p', { class: 'muted' }, 'No finished runs in this period.')));
}
