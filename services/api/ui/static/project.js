// /ui/projects/{project}: its pipelines (last run, ref, duration, age, Run), its stats,
// New pipeline from a config template or a pasted JSON/YAML definition.

import { api, projectPath } from './api.js';
import { chart, loadStats } from './chart.js';
import { runDialog, refOf, uiPipeline, uiRecord } from './runs.js';
import {
  actions, app, badge, body, clearErrors, dialog, duration, field, h, keep, replace, section,
  setTitle, showErrors, when,
} from './ui.js';

const project = body.project;
const base = projectPath(project);
const info = h('div', { class: 'muted' });
const list = h('div', {}, h('p', { class: 'muted' }, 'Loading pipelines…'));
const stats = h('div', { class: 'card' }, h('p', { class: 'muted' }, 'Loading stats…'));

async function loadProject() {
  const p = await api(base);
  const bits = [p.alias && p.alias !== p.name ? p.alias : '', p.description, p.scm ? `${p.scm.type} · ${p.scm.server}` : '',
    `cloud: ${(((p.worker || {}).location || {}).cloudName) || 'Local'}`].filter(Boolean);
  replace(info, bits.join(' — '));
  setTitle(`${p.name} · Projects`);
}

async function loadPipelines() {
  const page = await api(`${base}/pipelines?limit=1000&recentCount=1`);
  if (!page.items.length) {
    replace(list, h('div', { class: 'card empty' }, 'No pipelines yet. ',
      h('button', { type: 'button', class: 'primary', onclick: newPipeline }, 'New pipeline')));
    return false;
  }
  let active = false;
  const rows = page.items.map((pl) => {
    const last = (pl.recentRecords || [])[0];
    if (last && (last.status === 'Pending' || last.status === 'Running')) active = true;
    return h('tr', {},
      h('td', { class: 'name', 'data-label': 'Pipeline' }, h('a', { href: uiPipeline(project, pl.name) }, pl.name),
        pl.description ? h('div', { class: 'muted' }, pl.description) : null),
      h('td', { 'data-label': 'Last run' }, last ? h('a', { href: uiRecord(project, pl.name, last.id), 'aria-label': `Last run: ${last.status}` }, badge(last.status)) : badge(null)),
      h('td', { 'data-label': 'Ref', class: 'sha' }, last ? refOf(last) : '—'),
      h('td', { 'data-label': 'Duration' }, last ? duration(last.startTime, last.endTime) : '—'),
      h('td', { 'data-label': 'Age' }, last ? when(last.startTime || last.creationTime, { withDate: false }) : '—'),
      h('td', { 'data-label': '' }, h('button', { type: 'button', class: 'small', 'aria-label': `Run ${pl.name}`, onclick: () => runDialog(project, pl) }, '▶ Run')));
  });
  replace(list, h('table', { class: 'list', id: 'pipelines' },
    h('caption', { class: 'sr-only' }, 'Pipelines'),
    h('thead', {}, h('tr', {}, ['Pipeline', 'Last run', 'Ref', 'Duration', 'Age', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows)));
  return active;
}

async function loadChart() {
  replace(stats, chart(await loadStats(base), `Runs of ${project}, last 30 days`));
}

// --- New pipeline ------------------------------------------------------------------------
const lines = (text) => text.split('\n').map((l) => l.trim()).filter(Boolean);
const SOURCE_BLOCK = { github: 'github', gitlab: 'gitlab', svn: 'svn', other: 'otherCodeSource' };

async function newPipeline() {
  let templates = [];
  const tplSelect = h('select', { name: 'template' }, h('option', { value: '' }, 'Loading templates…'));
  const text = (name, attrs = {}) => h('input', { name, autocomplete: 'off', ...attrs });
  const area = (name, attrs = {}) => h('textarea', { name, rows: 3, spellcheck: 'false', ...attrs });
  const srcType = h('select', { name: 'srcType' }, Object.keys(SOURCE_BLOCK).map((t) => h('option', { value: t }, t === 'other' ? 'Other git URL' : t)));
  const tform = h('form', { novalidate: true, id: 'template-form' },
    h('p', { class: 'form-error', role: 'alert' }),
    field('Template', tplSelect, { hint: 'Prefills the builder image, commands and outputs.' }),
    h('div', { class: 'fields' },
      field('Name', text('name', { required: true }), { name: 'name' }),
      field('Description', text('description', { maxlength: 100 }), { name: 'description' })),
    h('fieldset', {}, h('legend', {}, 'Code'),
      h('div', { class: 'fields' },
        field('Repository type', srcType),
        field('Repository URL', text('url', { type: 'url', required: true }), { name: 'build.stages.codeCheckout' }),
        field('Ref', text('ref', { value: 'main' }), { name: 'build.stages.codeCheckout.mainRepo.ref' }))),
    field('Builder image', text('image', { required: true }), { name: 'build.builderImage' }),
    field('Test commands (one per line)', area('test'), { name: 'build.stages.unitTest' }),
    field('Package commands (one per line)', area('pkg'), { name: 'build.stages.package.command' }),
    field('Package outputs (one per line)', area('outputs', { rows: 2 }), { name: 'build.stages.package.outputs' }),
    h('div', { class: 'dialog-actions' },
      h('button', { type: 'button', onclick: () => d.close() }, 'Cancel'),
      h('button', { type: 'submit', class: 'primary' }, 'Create pipeline')));
  const def = area('definition', { class: 'definition', rows: 14, placeholder: '{"name": "build", "build": {...}}  or the same in YAML' });
  const dform = h('form', { novalidate: true, id: 'definition-form', hidden: true },
    h('p', { class: 'form-error', role: 'alert' }),
    field('Pipeline definition (JSON or YAML)', def, { hint: 'The body of POST /api/v1/projects/{project}/pipelines.' }),
    h('div', { class: 'dialog-actions' },
      h('button', { type: 'button', onclick: () => d.close() }, 'Cancel'),
      h('button', { type: 'submit', class: 'primary' }, 'Create pipeline')));
  const tab = (label, panel, other, selected) => {
    const b = h('button', { type: 'button', role: 'tab', 'aria-selected': String(selected) }, label);
    b.addEventListener('click', () => {
      panel.hidden = false; other.hidden = true;
      for (const t of b.parentElement.children) t.setAttribute('aria-selected', String(t === b));
    });
    return b;
  };
  const d = dialog('New pipeline', h('div', {},
    h('div', { class: 'tabs', role: 'tablist' }, tab('From a template', tform, dform, true), tab('From a definition', dform, tform, false)),
    tform, dform));

  const apply = () => {
    const t = templates.find((x) => x.name === tplSelect.value);
    if (!t) return;
    tform.elements.image.value = t.builderImage;
    tform.elements.test.value = t.testCommands.trim();
    tform.elements.pkg.value = t.packageCommands.trim();
    tform.elements.outputs.value = t.packageOutputs.trim();
  };
  tplSelect.addEventListener('change', apply);
  try {
    templates = (await api('/configtemplates')).items;
    replace(tplSelect, templates.map((t) => h('option', { value: t.name }, t.name)));
    apply();
  } catch (err) {
    replace(tplSelect, h('option', { value: '' }, 'Templates unavailable'));
    showErrors(tform, err);
  }

  const create = async (form, send, fallback = null) => {
    clearErrors(form);
    const submit = form.querySelector('[type=submit]');
    submit.disabled = true;
    try {
      const created = await send();
      location.assign(uiPipeline(project, created.name));
    } catch (err) {
      showErrors(form, err, fallback);
      submit.disabled = false;
    }
  };
  tform.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = (n) => tform.elements[n].value.trim();
    const block = SOURCE_BLOCK[v('srcType')];
    const repo = { url: v('url') };
    if (v('ref')) repo.ref = v('ref');
    const stages = { codeCheckout: { mainRepo: { type: v('srcType'), [block]: repo } } };
    if (lines(v('test')).length) stages.unitTest = { command: lines(v('test')) };
    if (lines(v('pkg')).length) stages.package = { command: lines(v('pkg')), outputs: lines(v('outputs')) };
    const b = { name: v('name'), build: { builderImage: { image: v('image') }, stages } };
    if (v('description')) b.description = v('description');
    create(tform, () => api(`${base}/pipelines`, { method: 'POST', body: b }));
  });
  dform.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const raw = def.value;
    const json = raw.trim().startsWith('{');
    create(dform, () => api(`${base}/pipelines`, { method: 'POST', raw, contentType: json ? 'application/json' : 'application/yaml' }), def);
  });
}

actions(h('button', { type: 'button', class: 'primary', id: 'new-pipeline', onclick: newPipeline }, 'New pipeline'));
replace(app(), info, section('Pipelines', list), section('Runs per day (last 30 days)', stats));
info.classList.add('section');
keep('the project', loadProject, 60000);
let poll = null;
poll = keep('pipelines', async () => {
  const active = await loadPipelines();
  if (poll) poll.setEvery(active ? 3000 : 20000); // follow runs while any goes on
}, 20000);
keep('stats', loadChart, 60000);
