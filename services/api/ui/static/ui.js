// Small DOM helpers shared by the pages: element building (text only, never innerHTML),
// times in the browser's zone with relative ages, status badges, the error banner with
// retries, dialogs and form errors placed at their field.

import { ApiError } from './api.js';

/** h('a', {href, class: 'x', onclick}, 'text', child, [more]) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  add(el, children);
  return el;
}

function add(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) add(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const app = () => document.getElementById('app');
export const body = document.body.dataset;

export function replace(el, ...children) {
  el.replaceChildren();
  add(el, children);
  return el;
}

// --- times ------------------------------------------------------------------------------
const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const short = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const rel = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' });
const day = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' });

export const fullTime = (iso) => full.format(new Date(iso));
export const shortTime = (iso) => short.format(new Date(iso));
export const utcDay = (date) => day.format(date);

export function ago(iso, now = Date.now()) {
  const s = Math.round((new Date(iso).getTime() - now) / 1000);
  const a = Math.abs(s);
  if (a < 45) return rel.format(s, 'second');
  if (a < 2700) return rel.format(Math.round(s / 60), 'minute');
  if (a < 64800) return rel.format(Math.round(s / 3600), 'hour');
  if (a < 86400 * 30) return rel.format(Math.round(s / 86400), 'day');
  if (a < 86400 * 365) return rel.format(Math.round(s / (86400 * 30)), 'month');
  return rel.format(Math.round(s / (86400 * 365)), 'year');
}

/** A <time>: local date and time, its relative age beside it; ages refresh every 30 s. */
export function when(iso, { withDate = true } = {}) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const age = h('span', { class: 'muted', 'data-ago': iso }, ago(iso));
  return h('time', { datetime: iso, title: fullTime(iso) }, withDate ? [shortTime(iso), ' · '] : null, age);
}
setInterval(() => {
  for (const el of document.querySelectorAll('[data-ago]')) el.textContent = ago(el.dataset.ago);
}, 30000);

export function duration(startIso, endIso) {
  if (!startIso) return '—';
  const end = endIso ? new Date(endIso) : new Date();
  let s = Math.max(0, Math.round((end - new Date(startIso)) / 1000));
  const hours = Math.floor(s / 3600); s -= hours * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (hours) return `${hours}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

// --- statuses ---------------------------------------------------------------------------
export const FINISHED = new Set(['Success', 'Failed', 'Aborted']);
export const ACTIVE = new Set(['Pending', 'Running']);

export function badge(status) {
  const s = status || 'none';
  return h('span', { class: `badge s-${s.toLowerCase()}` }, status || 'No runs');
}

export function dot(record) {
  const s = record.status || 'none';
  return h('a', {
    class: `dot s-${s.toLowerCase()}`,
    title: `${s}: ${record.name || record.id}`,
    'aria-label': `${s}: ${record.name || record.id}`,
    href: record.href,
  });
}

// --- the banner: errors and lost connections, with retries ----------------------------------
const banner = () => document.getElementById('banner');
const problems = new Map();

function showProblems() {
  const el = banner();
  if (!el) return;
  el.replaceChildren();
  for (const [, p] of problems) {
    el.append(h('p', {}, p.text), p.retry ? h('button', { type: 'button', onclick: p.retry }, 'Retry now') : '');
  }
}

export function problem(key, text, retry) {
  problems.set(key, { text, retry });
  showProblems();
}

export function clearProblem(key) {
  if (problems.delete(key)) showProblems();
}

export function say(err) {
  if (err instanceof ApiError) return err.status === 0 ? err.message : `${err.message} (${err.status})`;
  return String(err && err.message ? err.message : err);
}

/**
 * Run `load` now, then every `every` ms (when given and the tab is visible). A failure shows a
 * message with a Retry button and tries again later (2 s, doubling to 30 s); the page keeps
 * what it last showed. Returns { refresh(), stop(), setEvery(ms) }.
 */
export function keep(key, load, every = 0) {
  let timer = null;
  let delay = 2000;
  let stopped = false;
  let running = false;
  const schedule = (ms) => {
    clearTimeout(timer);
    if (!stopped && ms) timer = setTimeout(run, ms);
  };
  async function run() {
    if (stopped || running) return;
    if (document.hidden && every) { schedule(every); return; }
    running = true;
    try {
      await load();
      clearProblem(key);
      delay = 2000;
      schedule(every);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      problem(key, `Could not load ${key}: ${say(err)}. Retrying in ${Math.round(delay / 1000)} s.`, () => { delay = 2000; run(); });
      schedule(delay);
      delay = Math.min(delay * 2, 30000);
    } finally {
      running = false;
    }
  }
  document.addEventListener('visibilitychange', () => { if (!document.hidden && every) run(); });
  run();
  return {
    refresh: run,
    stop() { stopped = true; clearTimeout(timer); },
    setEvery(ms) { if (ms !== every) { every = ms; schedule(every); } },
  };
}

addEventListener('offline', () => problem('connection', 'You are offline: the page will update when the connection is back.'));
addEventListener('online', () => clearProblem('connection'));
addEventListener('unhandledrejection', (ev) => {
  if (ev.reason instanceof ApiError && ev.reason.status === 401) return;
  problem('page', `Something went wrong: ${say(ev.reason)}`);
});

// --- page furniture ------------------------------------------------------------------------
export function setTitle(text) {
  document.title = `${text} — Cyclone`;
}

export function actions(...buttons) {
  replace(document.getElementById('actions'), ...buttons);
}

export function section(title, ...children) {
  const id = 'h-' + title.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  return h('section', { class: 'section', 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

/** A modal <dialog>: Esc closes it, focus returns to what opened it. */
export function dialog(title, content) {
  const id = 'd-' + Math.random().toString(36).slice(2);
  const opener = document.activeElement;
  const d = h('dialog', { 'aria-labelledby': id }, h('div', { class: 'body' }, h('h2', { id }, title), content));
  d.addEventListener('close', () => { d.remove(); if (opener && opener.focus) opener.focus(); });
  document.body.append(d);
  d.showModal();
  return d;
}

export function confirmDialog(title, text, okLabel, danger = true) {
  return new Promise((resolve) => {
    let ok = false;
    const d = dialog(title, h('div', {},
      h('p', {}, text),
      h('div', { class: 'dialog-actions' },
        h('button', { type: 'button', onclick: () => d.close() }, 'Cancel'),
        h('button', { type: 'button', class: danger ? 'danger solid' : 'primary', onclick: () => { ok = true; d.close(); } }, okLabel))));
    d.addEventListener('close', () => resolve(ok));
  });
}

// --- forms --------------------------------------------------------------------------------
let fieldSeq = 0;

/** A labelled control; `name` is the API field it fills (errors come back by that name). */
export function field(label, control, { name = '', hint = '' } = {}) {
  const id = control.id || `f${++fieldSeq}`;
  control.id = id;
  if (name) control.dataset.field = name;
  const err = h('p', { class: 'field-error', id: `${id}-err` });
  const help = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  control.setAttribute('aria-describedby', [help && help.id, err.id].filter(Boolean).join(' '));
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, help, err);
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  for (const el of form.querySelectorAll('.field-error, .form-error')) el.textContent = '';
}

/**
 * Put an API error where it belongs: each `details[].field` at the control whose
 * data-field is that path (or its closest parent path), the rest at the form's top.
 */
export function showErrors(form, err, fallback = null) {
  clearErrors(form);
  const top = form.querySelector('.form-error');
  let details = err instanceof ApiError && Array.isArray(err.details) ? err.details : [];
  if (!details.length && err instanceof ApiError && err.status === 409 && form.querySelector('[data-field="name"]')) {
    details = [{ field: 'name', error: err.message }]; // a duplicate name: say it at the name
  }
  let first = null;
  const unplaced = [];
  for (const d of details) {
    const path = String(d.field || '');
    let control = null;
    for (let p = path; p && !control; p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '') {
      control = form.querySelector(`[data-field="${CSS.escape(p)}"]`);
      if (!control && p.includes('[')) control = form.querySelector(`[data-field="${CSS.escape(p.replace(/\[\d+\]/g, ''))}"]`);
    }
    if (control) {
      control.setAttribute('aria-invalid', 'true');
      const slot = document.getElementById(`${control.id}-err`);
      if (slot) slot.textContent = (slot.textContent ? slot.textContent + ' ' : '') + d.error;
      first = first || control;
    } else if (fallback) {
      fallback.setAttribute('aria-invalid', 'true');
      const slot = document.getElementById(`${fallback.id}-err`);
      if (slot) slot.textContent = (slot.textContent ? slot.textContent + ' ' : '') + `${path}: ${d.error}`;
      first = first || fallback;
    } else {
      unplaced.push(`${path}: ${d.error}`);
    }
  }
  if (!details.length && fallback) {
    fallback.setAttribute('aria-invalid', 'true');
    const slot = document.getElementById(`${fallback.id}-err`);
    if (slot) slot.textContent = say(err);
    first = fallback;
  } else if (top) {
    if (!details.length) top.textContent = say(err);
    else if (unplaced.length) top.textContent = unplaced.join('; ');
  }
  (first || top)?.focus?.();
  if (!first && top) { top.tabIndex = -1; top.focus(); }
}
