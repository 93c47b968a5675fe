// /ui/ : every project with its pipelines count and its latest runs; search; New project.

import { api, all, projectPath, recordPath } from './api.js';
import { actions, app, clearErrors, dialog, dot, field, h, keep, replace, showErrors } from './ui.js';

const uiProject = (name) => `/ui/projects/${encodeURIComponent(name)}`;

async function mapLimited(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Pipelines count and the latest run of each pipeline, newest first. */
async function summary(project) {
  const page = await api(`${projectPath(project.name)}/pipelines?limit=50&recentCount=1`);
  const latest = [];
  for (const pl of page.items) {
    for (const r of pl.recentRecords || []) {
      latest.push({ ...r, href: `/ui${recordPath(project.name, pl.name, r.id)}` });
    }
  }
  latest.sort((a, b) => String(b.startTime || b.creationTime || '').localeCompare(String(a.startTime || a.creationTime || '')));
  return { count: page.metadata.total, latest: latest.slice(0, 6) };
}

const search = h('input', { type: 'search', id: 'project-search', placeholder: 'Filter by name', autocomplete: 'off' });
search.value = new URLSearchParams(location.search).get('q') || '';
const table = h('div', {});
let rows = [];

function applyFilter() {
  const q = search.value.trim().toLowerCase();
  let shown = 0;
  for (const { row, text } of rows) {
    const hit = !q || text.includes(q);
    row.hidden = !hit;
    shown += hit ? 1 : 0;
  }
  const url = new URL(location.href);
  if (q) url.searchParams.set('q', search.value.trim()); else url.searchParams.delete('q');
  history.replaceState(null, '', url);
  const none = table.querySelector('.no-match');
  if (none) none.hidden = shown > 0 || rows.length === 0;
}
search.addEventListener('input', applyFilter);

async function load() {
  const projects = await all('/projects');
  const sums = await mapLimited(projects, 4, summary);
  rows = projects.map((p, i) => {
    const sum = sums[i];
    const row = h('tr', {},
      h('td', { class: 'name', 'data-label': 'Project' }, h('a', { href: uiProject(p.name) }, p.name),
        p.alias && p.alias !== p.name ? h('div', { class: 'muted' }, p.alias) : null),
      h('td', { 'data-label': 'Description' }, p.description || h('span', { class: 'muted' }, '—')),
      h('td', { 'data-label': 'SCM' }, (p.scm && `${p.scm.type} · ${p.scm.server}`) || '—'),
      h('td', { 'data-label': 'Pipelines', class: 'count' }, String(sum.count)),
      h('td', { 'data-label': 'Latest runs' }, sum.latest.length
        ? h('span', { class: 'dots' }, sum.latest.map(dot))
        : h('span', { class: 'muted' }, 'No runs yet')));
    return { row, text: `${p.name} ${p.alias || ''} ${p.description || ''}`.toLowerCase() };
  });
  if (!rows.length) {
    replace(table, h('div', { class: 'card empty' }, 'No projects yet. ', h('button', { type: 'button', class: 'primary', onclick: newProject }, 'New project')));
    return;
  }
  replace(table,
    h('table', { class: 'list', id: 'projects' },
      h('caption', { class: 'sr-only' }, 'Projects'),
      h('thead', {}, h('tr', {}, ['Project', 'Description', 'SCM', 'Pipelines', 'Latest runs'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows.map((r) => r.row))),
    h('p', { class: 'empty no-match', hidden: true }, 'No project matches this filter.'));
  applyFilter();
}

// --- New project ------------------------------------------------------------------------
async function newProject() {
  const input = (name, attrs = {}) => h('input', { name, ...attrs });
  const scmType = h('select', { name: 'scm.type' }, ['Github', 'Gitlab', 'SVN'].map((t) => h('option', { value: t }, t)));
  const server = input('scm.server', { type: 'url', value: 'https://github.com', required: true });
  scmType.addEventListener('change', () => {
    const defaults = { Github: 'https://github.com', Gitlab: 'https://gitlab.com', SVN: '' };
    if (!server.value || Object.values(defaults).includes(server.value)) server.value = defaults[scmType.value];
  });
  const cloud = h('select', { name: 'worker.location.cloudName' }, h('option', { value: '' }, 'Local (default)'));
  api('/clouds').then((page) => {
    for (const c of page.items) if (c.name.toLowerCase() !== 'local') cloud.append(h('option', { value: c.name }, `${c.name} (${c.type})`));
  }).catch(() => { /* the default stays usable */ });
  const form = h('form', { novalidate: true },
    h('p', { class: 'form-error', role: 'alert' }),
    h('div', { class: 'fields' },
      field('Name', input('name', { required: true, autocomplete: 'off', pattern: '[a-z0-9._-]+' }), { name: 'name', hint: 'Lowercase letters, digits, and . _ - between them.' }),
      field('Description', input('description', { maxlength: 100 }), { name: 'description' })),
    h('fieldset', {}, h('legend', {}, 'Source code (SCM)'),
      h('div', { class: 'fields' },
        field('SCM type', scmType, { name: 'scm.type' }),
        field('Server', server, { name: 'scm.server' }),
        field('Username', input('scm.username', { autocomplete: 'off' }), { name: 'scm.username' }),
        field('Access token', input('scm.token', { type: 'password', autocomplete: 'new-password' }), { name: 'scm.token', hint: 'Or a password, below.' }),
        field('Password', input('scm.password', { type: 'password', autocomplete: 'new-password' }), { name: 'scm.password' }))),
    h('fieldset', {}, h('legend', {}, 'Image registry (optional)'),
      h('div', { class: 'fields' },
        field('Registry server', input('registry.server', { placeholder: 'registry.example.com' }), { name: 'registry.server' }),
        field('Repository', input('registry.repository', { placeholder: 'team' }), { name: 'registry.repository' }),
        field('Registry username', input('registry.username', { autocomplete: 'off' }), { name: 'registry.username' }),
        field('Registry password', input('registry.password', { type: 'password', autocomplete: 'new-password' }), { name: 'registry.password' }))),
    field('Worker cloud', cloud, { name: 'worker.location.cloudName', hint: 'Where this project\'s runs execute.' }),
    h('div', { class: 'dialog-actions' },
      h('button', { type: 'button', onclick: () => d.close() }, 'Cancel'),
      h('button', { type: 'submit', class: 'primary' }, 'Create project')));
  const d = dialog('New project', form);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const v = (n) => form.elements[n].value.trim();
    const body = { scm: { type: v('scm.type'), server: v('scm.server') } };
    for (const k of ['name', 'description']) if (v(k)) body[k] = v(k);
    for (const k of ['username', 'token', 'password']) if (v(`scm.${k}`)) body.scm[k] = v(`scm.${k}`);
    if (v('registry.server') || v('registry.repository')) {
      body.registry = {};
      for (const k of ['server', 'repository', 'username', 'password']) if (v(`registry.${k}`)) body.registry[k] = v(`registry.${k}`);
    }
    if (v('worker.location.cloudName')) body.worker = { location: { cloudName: v('worker.location.cloudName') } };
    const submit = form.querySelector('[type=submit]');
    submit.disabled = true;
    try {
      const created = await api('/projects', { method: 'POST', body });
      location.assign(uiProject(created.name));
    } catch (err) {
      showErrors(form, err);
    } finally {
      submit.disabled = false;
    }
  });
}

actions(h('button', { type: 'button', class: 'primary', id: 'new-project', onclick: newProject }, 'New project'));
replace(app(),
  h('div', { class: 'toolbar' }, h('div', { class: 'field' }, h('label', { for: 'project-search' }, 'Search projects'), search)),
  table);
keep('projects', load, 30000);
