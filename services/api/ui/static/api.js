// The public API, as the pages use it: the session cookie authenticates (same origin),
// every state change carries the CSRF token the page was rendered with, and a 401 sends the
// browser to the login page with the way back kept.

const CSRF = document.querySelector('meta[name="csrf-token"]')?.content || '';
export const BASE = '/api/v1';

/** An API answer that is not 2xx (status 0: no answer at all). */
export class ApiError extends Error {
  constructor(status, message, details = null, reason = '') {
    super(message);
    this.status = status;
    this.details = details;
    this.reason = reason;
  }
}

// Set once the browser leaves the page (a link, a form such as Log out): a call answered 401
// meanwhile must not send it to the login page instead of where it is going.
let leaving = false;
addEventListener('beforeunload', () => { leaving = true; });

export function toLogin() {
  if (leaving) return;
  const here = location.pathname + location.search + location.hash;
  location.assign('/ui/login?next=' + encodeURIComponent(here));
}

/** Path segments are names: always encoded. */
export const seg = (s) => encodeURIComponent(s);
export const projectPath = (p) => `/projects/${seg(p)}`;
export const pipelinePath = (p, pl) => `${projectPath(p)}/pipelines/${seg(pl)}`;
export const recordPath = (p, pl, r) => `${pipelinePath(p, pl)}/records/${seg(r)}`;

/**
 * Call the API. `body` is sent as JSON unless `raw` gives text and its content type.
 * Answers the decoded JSON (or the Response with `response: true`).
 */
export async function api(path, { method = 'GET', body, raw, contentType, response = false, signal } = {}) {
  const headers = { Accept: 'application/json' };
  let payload;
  if (raw !== undefined) {
    payload = raw;
    headers['Content-Type'] = contentType || 'text/plain';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = CSRF;
  let resp;
  try {
    resp = await fetch(BASE + path, { method, headers, body: payload, credentials: 'same-origin', signal });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'Cannot reach the Cyclone server (network error).');
  }
  if (resp.status === 401) {
    toLogin();
    throw new ApiError(401, 'Your session has ended: signing in again…');
  }
  if (!resp.ok) {
    let data = {};
    try { data = await resp.json(); } catch { /* not JSON: a proxy's page */ }
    throw new ApiError(resp.status, data.message || `${resp.status} ${resp.statusText}`, data.details || null, data.reason || '');
  }
  if (response) return resp;
  if (resp.status === 204) return null;
  return resp.json();
}

/** Every item of a list endpoint (the API pages with start/limit; up to 1000 per call). */
export async function all(path, extra = '') {
  const items = [];
  for (let start = 0; ; start += 1000) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api(`${path}${sep}start=${start}&limit=1000${extra}`);
    items.push(...page.items);
    if (items.length >= page.metadata.total || page.items.length === 0) return items;
  }
}

/** A single-use ticket for the log WebSocket: the token never goes into a URL. */
export async function ticket() {
  return (await api('/tickets', { method: 'POST' })).ticket;
}
