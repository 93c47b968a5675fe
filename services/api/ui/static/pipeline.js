// /ui/projects/{project}/pipelines/{pipeline}: its runs (paged, updating while any goes
// on), Run, the definition (view and edit), delete, and its stats.

import { api, pipelinePath } from './api.js';
import { chart, loadStats } from './chart.js';
import { commitOf, refOf, runDialog, uiRecord } from './runs.js';
import {
  ACTIVE, actions, app, badge, body, clearErrors, confirmDialog, duration, field, h, keep,
  problem, replace, say, section, setTitle, showErrors, when,
} from './ui.js';

const project = body.project;
const name = body.pipeline;
const base = pipelinePath(project, name);
const PAGE = 20;
let pipeline = null;
let page = Math.max(1, Number(new URLSearchParams(location.search).get('page')) || 1);

const runs = h('div', {}, h('p', { class: 'muted' }, 'Loading runs…'));
const defBox = h('div', {});
const stats = h('div', { class: 'card' }, h('p', { class: 'muted' }, 'Loading stats…'));

async function loadPipeline() {
  pipeline = await api(base);
  setTitle(`${pipeline.name} · ${project}`);
  if (!defBox.querySelector('form')) showDefinition();
}

async function loadRuns() {
  const data = await api(`${base}/records?start=${(page - 1) * PAGE}&limit=${PAGE}`);
  const total = data.metadata.total;
  const pages = Math.max(1, Math.ceil(total / PAGE));
  if (page > pages) page = pages;
  const active = data.items.some((r) => ACTIVE.has(r.status));
  if (!data.items.length) {
    replace(runs, h('div', { class: 'card empty' }, 'No runs yet. ', h('button', { type: 'button', class: 'primary', onclick: run }, 'Run it')));
    return active;
  }
  const rows = data.items.map((r) => {
    const c = commitOf(r);
    return h('tr', { 'data-status': r.status },
      h('td', { 'data-label': 'Status' }, badge(r.status)),
      h('td', { class: 'name', 'data-label': 'Run' }, h('a', { href: uiRecord(project, name, r.id) }, r.name || r.id)),
      h('td', { 'data-label': 'Trigger' }, r.trigger || '—'),
      h('td', { 'data-label': 'Ref', class: 'sha' }, refOf(r) || '—'),
      h('td', { 'data-label': 'Commit' }, c.sha ? [h('span', { class: 'sha', title: c.sha }, c.sha.slice(0, 10)), h('div', { class: 'msg', title: c.message }, c.message)] : '—'),
      h('td', { 'data-label': 'Started' }, when(r.startTime || r.creationTime)),
      h('td', { 'data-label': 'Duration' }, r.startTime ? duration(r.startTime, r.endTime) : '—'));
  });
  const go = (p) => {
    page = p;
    const url = new URL(location.href);
    if (p > 1) url.searchParams.set('page', p); else url.searchParams.delete('page');
    history.replaceState(null, '', url);
    poller.refresh();
  };
  replace(runs,
    h('table', { class: 'list', id: 'runs' },
      h('caption', { class: 'sr-only' }, 'Runs, newest first'),
      h('thead', {}, h('tr', {}, ['Status', 'Run', 'Trigger', 'Ref', 'Commit', 'Started', 'Duration'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows)),
    h('nav', { class: 'pager', 'aria-label': 'Runs pages' },
      h('span', { class: 'muted' }, `${total} runs · page ${page} of ${pages}${active ? ' · updating' : ''}`),
      h('button', { type: 'button', disabled: page <= 1, onclick: () => go(page - 1) }, '← Newer'),
      h('button', { type: 'button', disabled: page >= pages, onclick: () => go(page + 1) }, 'Older →')));
  return active;
}

function run() {
  if (pipeline) runDialog(project, pipeline);
}

// --- the definition ------------------------------------------------------------------------
const READ_ONLY = ['id', 'creationTime', 'lastUpdateTime', 'projectID', 'recentRecords', 'recentSuccessRecords', 'recentFailedRecords'];

function definition() {
  const doc = { ...pipeline };
  for (const k of READ_ONLY) delete doc[k];
  return JSON.stringify(doc, null, 2);
}

function showDefinition() {
  replace(defBox,
    h('div', { class: 'row' }, h('span', { class: 'muted' }, `Last changed ${new Date(pipeline.lastUpdateTime || pipeline.creationTime).toLocaleString()}`),
      h('span', { class: 'spacer' }), h('button', { type: 'button', id: 'edit-definition', onclick: editDefinition }, 'Edit')),
    h('pre', { class: 'card', tabindex: '0', 'aria-label': 'Pipeline definition (JSON)', id: 'definition' }, definition()));
}

function editDefinition() {
  const area = h('textarea', { class: 'definition', spellcheck: 'false', rows: 20 }, definition());
  const form = h('form', { novalidate: true },
    h('p', { class: 'form-error', role: 'alert' }),
    field('Definition (JSON or YAML)', area, { hint: 'Saved with PUT: the whole pipeline is replaced. Masked secrets (******) keep their stored values.' }),
    h('div', { class: 'dialog-actions' },
      h('button', { type: 'button', onclick: showDefinition }, 'Cancel'),
      h('button', { type: 'submit', class: 'primary' }, 'Save')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const raw = area.value;
    try {
      pipeline = await api(base, { method: 'PUT', raw, contentType: raw.trim().startsWith('{') ? 'application/json' : 'application/yaml' });
      showDefinition();
      defBox.querySelector('#edit-definition').focus();
    } catch (err) {
      showErrors(form, err, area);
    }
  });
  replace(defBox, form);
  area.focus();
}

async function remove() {
  const ok = await confirmDialog(`Delete ${name}?`, `The pipeline ${name} and all its runs and logs will be deleted. This cannot be undone.`, 'Delete pipeline');
  if (!ok) return;
  try {
    await api(base, { method: 'DELETE' });
    location.assign(`/ui/projects/${encodeURIComponent(project)}`);
  } catch (err) {
    problem('delete', `Could not delete the pipeline: ${say(err)}`);
  }
}

actions(
  h('button', { type: 'button', class: 'primary', id: 'run', onclick: run }, '▶ Run'),
  h('button', { type: 'button', class: 'danger', id: 'delete', onclick: remove }, 'Delete'));
replace(app(),
  section('Runs', runs),
  section('Runs per day (last 30 days)', stats),
  section('Definition', defBox));
keep('the pipeline', loadPipeline, 0);
let poller = null;
poller = keep('runs', async () => {
  const active = await loadRuns();
  if (poller) poller.setEvery(active ? 2000 : 15000); // follow runs while any goes on
}, 15000);
keep('stats', async () => replace(stats, chart(await loadStats(base), `Runs of ${name}, last 30 days`)), 60000);
