// What the project and pipeline pages share: the Run dialog, a pipeline's stages and its
// default ref, and the links to a record's page.

import { api, recordPath } from './api.js';
import { clearErrors, dialog, field, h, showErrors } from './ui.js';

export const STAGES = ['codeCheckout', 'unitTest', 'codeScan', 'package', 'imageBuild', 'integrationTest', 'imageRelease'];
// As the log's framing lines name them (shared/contracts/logs.py STAGE_DESC).
export const STAGE_NAMES = {
  codeCheckout: 'Code checkout', unitTest: 'Unit test', codeScan: 'Code scan', package: 'Package',
  imageBuild: 'Build image', integrationTest: 'Integration test', imageRelease: 'Push image',
};

export const uiRecord = (project, pipeline, id) => `/ui${recordPath(project, pipeline, id)}`;
export const uiPipeline = (project, pipeline) => `/ui/projects/${encodeURIComponent(project)}/pipelines/${encodeURIComponent(pipeline)}`;

export function definedStages(pipeline) {
  const stages = (pipeline.build && pipeline.build.stages) || {};
  return STAGES.filter((s) => stages[s]);
}

/** The ref the main repository names, else `main`. */
export function defaultRef(pipeline) {
  const main = (((pipeline.build || {}).stages || {}).codeCheckout || {}).mainRepo || {};
  for (const block of ['github', 'gitlab', 'svn', 'otherCodeSource', 'gitHub', 'gitLab']) {
    if (main[block] && main[block].ref) return main[block].ref;
  }
  return 'main';
}

/** The Run dialog: ref, stages, name; opens the new record's page. */
export function runDialog(project, pipeline) {
  const stages = definedStages(pipeline);
  const ref = h('input', { name: 'ref', required: true, value: defaultRef(pipeline), autocomplete: 'off' });
  const name = h('input', { name: 'name', autocomplete: 'off', placeholder: 'generated when empty' });
  const boxes = stages.map((s) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', name: 'stage', value: s, checked: true, disabled: s === 'codeCheckout' }), STAGE_NAMES[s] || s));
  const form = h('form', { novalidate: true },
    h('p', { class: 'form-error', role: 'alert' }),
    field('Ref (branch, tag or commit)', ref, { name: 'ref' }),
    h('fieldset', { 'data-field': 'stages', id: 'run-stages' }, h('legend', {}, 'Stages'), h('div', { class: 'row' }, boxes),
      h('p', { class: 'field-error', id: 'run-stages-err' })),
    field('Name', name, { name: 'name', hint: 'Optional: the commit and time name a run otherwise.' }),
    h('div', { class: 'dialog-actions' },
      h('button', { type: 'button', onclick: () => d.close() }, 'Cancel'),
      h('button', { type: 'submit', class: 'primary' }, 'Run')));
  const d = dialog(`Run ${pipeline.name}`, form);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const body = { ref: ref.value.trim() };
    if (name.value.trim()) body.name = name.value.trim();
    const picked = [...form.querySelectorAll('input[name=stage]')].filter((b) => b.checked).map((b) => b.value);
    if (picked.length !== stages.length) body.stages = picked;
    const submit = form.querySelector('[type=submit]');
    submit.disabled = true;
    try {
      const rec = await api(`/projects/${encodeURIComponent(project)}/pipelines/${encodeURIComponent(pipeline.name)}/records`, { method: 'POST', body });
      location.assign(uiRecord(project, pipeline.name, rec.id));
    } catch (err) {
      showErrors(form, err);
      submit.disabled = false;
    }
  });
  return d;
}

/** The commit a record checked out: { sha, message } (empty before checkout). */
export function commitOf(record) {
  const c = (((record.stageStatus || {}).codeCheckout || {}).commits || {}).mainRepo || {};
  return { sha: c.ID || '', message: (c.Message || '').split('\n')[0], author: c.Author || '' };
}

export const refOf = (record) => (record.performParams || {}).ref || '';
