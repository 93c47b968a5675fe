// /ui/projects/{p}/pipelines/{pl}/records/{id}: a run's status, trigger, ref, commit and
// timing, its stages as a flow with their details, and its log: the stored part fetched as
// text (streamed, drawn as it arrives), then followed live over the WebSocket with a
// single-use ticket (the token is never in a URL), resuming with ?from= after a lost
// connection. Abort while it runs.

import { BASE, ApiError, api, pipelinePath, recordPath, ticket } from './api.js';
import { LogView } from './logview.js';
import { STAGES, STAGE_NAMES, commitOf, refOf } from './runs.js';
import {
  ACTIVE, FINISHED, actions, app, badge, body, clearProblem, confirmDialog, duration, h,
  problem, replace, say, section, setTitle, when,
} from './ui.js';

const { project, pipeline, record: id } = body;
const path = recordPath(project, pipeline, id);
const view = new LogView({ downloadHref: `${BASE}${path}/logs?download=true` });
const heading = document.getElementById('heading');
const announce = h('p', { class: 'sr-only', 'aria-live': 'polite', id: 'announce' });
const meta = h('dl', { class: 'meta' });
const errorBox = h('div', {});
const flow = h('ol', { class: 'flow', id: 'stages' });
const details = h('div', { class: 'details', id: 'stage-details' });
let record = null;
let definition = null;
let lastStatus = '';

function summarize() {
  const r = record;
  const c = commitOf(r);
  heading.replaceChildren(`Run ${r.name || id.slice(0, 8)}`, ' ', badge(r.status));
  setTitle(`${r.status} · ${r.name || id.slice(0, 8)} · ${pipeline} · ${project}`);
  if (lastStatus && lastStatus !== r.status) announce.textContent = `Run ${r.status}`;
  lastStatus = r.status;
  replace(meta,
    h('div', {}, h('dt', {}, 'Status'), h('dd', { id: 'record-status' }, badge(r.status))),
    h('div', {}, h('dt', {}, 'Trigger'), h('dd', {}, r.trigger || '—', r.owner && r.owner !== r.trigger ? ` (${r.owner})` : '')),
    h('div', {}, h('dt', {}, 'Ref'), h('dd', { class: 'mono' }, refOf(r) || '—')),
    h('div', {}, h('dt', {}, 'Commit'), h('dd', {}, c.sha
      ? [h('span', { class: 'mono', title: c.sha }, c.sha.slice(0, 12)), h('div', {}, c.message), c.author ? h('div', { class: 'muted' }, c.author) : null]
      : h('span', { class: 'muted' }, 'not checked out yet'))),
    h('div', {}, h('dt', {}, 'Started'), h('dd', {}, when(r.startTime || r.creationTime))),
    h('div', {}, h('dt', {}, 'Duration'), h('dd', { id: 'record-duration' }, r.startTime ? duration(r.startTime, r.endTime) : 'waiting')),
    r.endTime ? h('div', {}, h('dt', {}, 'Ended'), h('dd', {}, when(r.endTime))) : null);
  replace(errorBox, r.errorMessage ? h('div', { class: 'error-box', role: 'alert' }, h('strong', {}, 'Error: '), r.errorMessage) : '');
  drawStages();
  actions(
    ACTIVE.has(r.status) ? h('button', { type: 'button', class: 'danger', id: 'abort', onclick: abort }, '■ Abort') : null,
    h('a', { class: 'button', href: `/ui${pipelinePath(project, pipeline)}` }, 'All runs'));
}

function stageList() {
  const st = record.stageStatus || {};
  const wanted = new Set(Object.keys(st));
  for (const s of (record.performParams || {}).stages || []) wanted.add(s);
  if (definition && !(record.performParams || {}).stages) {
    for (const s of Object.keys((definition.build || {}).stages || {})) wanted.add(s);
  }
  return STAGES.filter((s) => wanted.has(s));
}

function drawStages() {
  const st = record.stageStatus || {};
  replace(flow, stageList().map((s) => {
    const one = st[s] || {};
    const status = one.status || (FINISHED.has(record.status) ? 'Skipped' : 'Pending');
    const label = STAGE_NAMES[s] || s;
    return h('li', {}, h('button', {
      type: 'button',
      class: `stage is-${status.toLowerCase()}`,
      'data-stage': s,
      'aria-label': `${label}: ${status}${one.startTime ? ', ' + duration(one.startTime, one.endTime) : ''}. Show its log.`,
      onclick: () => { if (!view.showSection(label)) announce.textContent = `No log for ${label} yet`; },
    }, h('span', { class: 'sname' }, label), badge(status), h('span', { class: 'sdur' }, one.startTime ? duration(one.startTime, one.endTime) : '—')));
  }));
  drawDetails();
}

function card(title, ...children) {
  return h('div', { class: 'card' }, h('h3', {}, title), ...children);
}

function drawDetails() {
  const st = record.stageStatus || {};
  const cards = [];
  for (const s of STAGES) {
    const one = st[s];
    if (!one) continue;
    const label = STAGE_NAMES[s];
    if (one.error) cards.push(card(`${label}: error`, h('p', { class: 'mono' }, one.error)));
    if (one.skipReason) cards.push(card(`${label}: skipped`, h('p', {}, one.skipReason)));
    const deps = ((one.commits || {}).depRepos || []);
    if (deps.length) cards.push(card('Dependency repositories', h('ul', {}, deps.map((c) => h('li', {}, h('span', { class: 'mono' }, String(c.ID || '').slice(0, 12)), ' ', (c.Message || '').split('\n')[0])))));
    if ((one.outputs || []).length) cards.push(card(`${label}: outputs`, h('ul', {}, one.outputs.map((o) => h('li', { class: 'mono' }, typeof o === 'string' ? o : JSON.stringify(o))))));
    if ((one.tasks || []).length) {
      cards.push(card(s === 'imageRelease' ? 'Images pushed' : 'Images built', h('table', {}, h('tbody', {}, one.tasks.map((t) =>
        h('tr', {}, h('td', {}, badge(t.status)), h('td', { class: 'mono' }, t.image || t.name), h('td', { class: 'muted' }, t.startTime ? duration(t.startTime, t.endTime) : '')))))));
    }
    if ((one.images || []).length && !(one.tasks || []).length) cards.push(card('Images pushed', h('ul', {}, one.images.map((i) => h('li', { class: 'mono' }, i)))));
    if (one.sonarqube) {
      const sq = one.sonarqube;
      const gate = one.status === 'Success' ? 'passed' : one.status === 'Failed' ? 'failed' : one.status;
      cards.push(card('SonarQube', h('p', {}, 'Quality gate: ', h('strong', {}, gate)),
        h('table', {}, h('tbody', {}, (sq.measures || []).map((m) => h('tr', {}, h('td', {}, m.metric.replace(/_/g, ' ')), h('td', { class: 'mono' }, m.value))))),
        sq.overviewLink ? h('p', {}, h('a', { href: sq.overviewLink, rel: 'noopener noreferrer', target: '_blank' }, 'Open in SonarQube')) : null));
    }
    if (s === 'integrationTest' && definition) {
      const services = ((((definition.build || {}).stages || {}).integrationTest || {}).services) || [];
      if (services.length) cards.push(card('Integration test services', h('ul', {}, services.map((x) => h('li', {}, h('strong', {}, x.name), ' ', h('span', { class: 'mono' }, x.image || ''))))));
    }
  }
  replace(details, cards);
}

async function abort() {
  const ok = await confirmDialog('Abort this run?', 'Its running stage is stopped and the run ends as Aborted.', 'Abort run');
  if (!ok) return;
  try {
    record = await api(`${path}/status`, { method: 'PATCH', body: { status: 'Aborted' } });
    summarize();
  } catch (err) {
    problem('abort', `Could not abort: ${say(err)}`);
  }
}

// --- keeping the record current ----------------------------------------------------------
let pollDelay = 1500;
async function poll() {
  try {
    record = await api(path);
    summarize();
    clearProblem('run');
    pollDelay = 1500;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    problem('run', `Could not refresh the run: ${say(err)}. Retrying.`);
    pollDelay = Math.min(pollDelay * 2, 30000);
  }
  if (!record || ACTIVE.has(record.status)) setTimeout(poll, document.hidden ? 5000 : pollDelay);
}
setInterval(() => {
  if (record && ACTIVE.has(record.status) && record.startTime) {
    const el = document.getElementById('record-duration');
    if (el) el.textContent = duration(record.startTime);
  }
}, 1000);

// --- the log -----------------------------------------------------------------------------
async function streamText() {
  const resp = await api(`${path}/logs`, { response: true });
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let rest = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const parts = (rest + value).split('\n');
    rest = parts.pop();
    view.append(parts);
  }
  if (rest) view.append([rest]);
}

function follow(attempt = 0) {
  return new Promise((resolve) => {
    let opened = false;
    ticket().then((t) => {
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      const ws = new WebSocket(`${proto}//${location.host}${BASE}${path}/logstream?batch=true&ticket=${encodeURIComponent(t)}&from=${view.lines.length}`);
      let batch = [];
      let queued = false;
      ws.onopen = () => { opened = true; clearProblem('log'); };
      ws.onmessage = (ev) => {
        // batch frames: a JSON array of the lines that arrived together
        for (const line of JSON.parse(ev.data)) batch.push(line);
        if (!queued) {
          queued = true;
          requestAnimationFrame(() => { queued = false; const b = batch; batch = []; view.append(b); });
        }
      };
      ws.onclose = (ev) => {
        if (batch.length) { view.append(batch); batch = []; }
        if (ev.code === 1000) { resolve(true); return; }
        retry();
      };
    }).catch((err) => {
      if (err instanceof ApiError && err.status === 401) return;
      retry(err);
    });
    function retry(err) {
      const next = opened ? 0 : attempt + 1;
      const wait = Math.min(30000, 1000 * 2 ** Math.min(next, 5));
      let gone = false;
      const again = () => {
        if (gone) return;
        gone = true;
        clearTimeout(timer);
        follow(next).then(resolve);
      };
      const timer = setTimeout(again, wait);
      problem('log', `The live log connection was lost${err ? ` (${say(err)})` : ''}; reconnecting in ${Math.round(wait / 1000)} s.`, again);
    }
  });
}

async function loadLog(first) {
  view.setLive(ACTIVE.has(first.status));
  let whole = false;
  try {
    await streamText();
    whole = true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    // The stream below resumes after the lines already drawn, and retries by itself.
  }
  // Live (or unfinished) logs continue over the WebSocket from the line count we have.
  if (!whole || ACTIVE.has(first.status) || (record && ACTIVE.has(record.status))) await follow();
  view.finish();
}

// Ctrl+F (Cmd+F) searches the whole log, which the browser cannot see (only drawn rows are in
// the page); pressed again in the search box, the browser's own find opens.
addEventListener('keydown', (ev) => {
  if ((ev.ctrlKey || ev.metaKey) && ev.key === 'f' && document.activeElement !== view.search) {
    ev.preventDefault();
    view.search.focus();
    view.search.select();
  }
});

replace(app(),
  announce,
  h('div', { class: 'card section' }, meta, errorBox),
  section('Stages', flow, details),
  section('Log', view.el));

(async () => {
  for (let attempt = 0; !record; attempt++) {
    try {
      record = await api(path);
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401)) return;
      if (err instanceof ApiError && err.status === 404) {
        replace(app(), h('div', { class: 'card empty' }, `No run ${id} in ${project}/${pipeline}. `, h('a', { href: `/ui${pipelinePath(project, pipeline)}` }, 'See its runs')));
        setTitle('Run not found');
        return;
      }
      problem('run', `Could not load the run: ${say(err)}. Retrying.`, () => location.reload());
      await new Promise((r) => setTimeout(r, Math.min(30000, 1000 * 2 ** attempt)));
    }
  }
  clearProblem('run');
  summarize();
  loadLog(record);
  if (ACTIVE.has(record.status)) setTimeout(poll, pollDelay);
  api(pipelinePath(project, pipeline)).then((d) => { definition = d; drawStages(); }).catch(() => { /* details only */ });
})();
