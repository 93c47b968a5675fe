// /ui/clouds: every cloud with its type and address, a Ping button and its answer, and the
// cloud's live workers (each linked to the run it executes).

import { api, seg } from './api.js';
import { uiRecord } from './runs.js';
import { app, badge, h, keep, replace, say, when } from './ui.js';

const list = h('div', {}, h('p', { class: 'muted' }, 'Loading clouds…'));
const cards = new Map(); // name -> { ping, workers } kept across refreshes

function where(c) {
  if (c.type === 'Docker') return (c.docker || {}).host || '';
  if (c.type === 'Kubernetes') {
    const k = c.kubernetes || {};
    return [k.inCluster ? 'in cluster' : k.host, k.namespace && `namespace ${k.namespace}`].filter(Boolean).join(' · ');
  }
  return 'this host';
}

async function ping(c, out, button) {
  button.disabled = true;
  replace(out, h('span', { class: 'muted' }, 'Pinging…'));
  const started = performance.now();
  try {
    const answer = await api(`/clouds/${seg(c.name)}/ping`);
    const ms = Math.round(performance.now() - started);
    replace(out, answer.status === 'ok'
      ? h('span', {}, badge('Success'), ` reachable in ${ms} ms`, answer.version ? ` · version ${answer.version}` : '')
      : h('span', {}, badge('Failed'), ` ${answer.message || 'unreachable'}`));
  } catch (err) {
    replace(out, h('span', {}, badge('Failed'), ` ${say(err)}`));
  } finally {
    button.disabled = false;
  }
}

async function workers(c) {
  try {
    const page = await api(`/clouds/${seg(c.name)}/workers`);
    if (!page.items.length) return h('p', { class: 'muted' }, 'No workers running.');
    return h('table', { class: 'list' },
      h('caption', { class: 'sr-only' }, `Workers of ${c.name}`),
      h('thead', {}, h('tr', {}, ['Worker', 'Status', 'Run', 'Started'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, page.items.map((w) => h('tr', {},
        h('td', { class: 'mono', 'data-label': 'Worker' }, w.name),
        h('td', { 'data-label': 'Status' }, badge(w.status)),
        h('td', { 'data-label': 'Run' }, w.projectName && w.pipelineName && w.recordID
          ? h('a', { href: uiRecord(w.projectName, w.pipelineName, w.recordID) }, `${w.projectName} / ${w.pipelineName}`)
          : w.recordID || '—'),
        h('td', { 'data-label': 'Started' }, when(w.creationTime))))));
  } catch (err) {
    return h('p', { class: 'field-error' }, `Workers unavailable: ${say(err)}`);
  }
}

async function load() {
  const page = await api('/clouds');
  const clouds = page.items;
  if (!clouds.length) {
    replace(list, h('div', { class: 'card empty' }, 'No clouds are registered: runs go to the built-in Local cloud (worker processes on the host of the cloud service) unless a project names a cloud.'));
    return;
  }
  const parts = await Promise.all(clouds.map(async (c) => {
    let kept = cards.get(c.name);
    if (!kept) {
      const out = h('div', { class: 'ping-answer', 'aria-live': 'polite' });
      const button = h('button', { type: 'button', class: 'small', 'aria-label': `Ping ${c.name}` }, 'Ping');
      button.addEventListener('click', () => ping(c, out, button));
      kept = { out, button };
      cards.set(c.name, kept);
    }
    return h('section', { class: 'card section', 'aria-labelledby': `cloud-${c.name}`, 'data-cloud': c.name },
      h('div', { class: 'row' },
        h('h2', { id: `cloud-${c.name}` }, c.name),
        h('span', { class: 'badge s-none' }, c.type),
        h('span', { class: 'muted' }, where(c)),
        h('span', { class: 'spacer' }), kept.button),
      kept.out,
      h('h3', {}, 'Workers'),
      await workers(c));
  }));
  replace(list, parts);
}

replace(app(), list);
keep('clouds', load, 10000);
