// The log viewer: every line kept in memory, only the rows on screen in the DOM (a 100,000
// line log scrolls like a short one); stage sections that fold; ANSI colours as spans (text
// only, never innerHTML); line numbers that are links (#L120); search over the whole log,
// not just what is drawn; following the end while the run goes, until the user scrolls up.

import { h } from './ui.js';

const ROW = 20; // px, fixed: what makes the arithmetic of a virtual list exact
const OVERSCAN = 30;
const START = /^Stage: (.+?) status: start$/;
const END = /^Stage: (.+?) status: (finish|fail with error: .*|skipped: .*)$/;

// --- ANSI (SGR) -------------------------------------------------------------------------
const ESC = /\x1b(?:\[([0-9;?]*)([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])/g;

function color256(n) {
  if (n < 16) return { cls: n };
  if (n >= 232) { const v = 8 + (n - 232) * 10; return { rgb: `rgb(${v},${v},${v})` }; }
  n -= 16;
  const c = (x) => (x ? x * 40 + 55 : 0);
  return { rgb: `rgb(${c(Math.floor(n / 36))},${c(Math.floor(n / 6) % 6)},${c(n % 6)})` };
}

function sgr(state, params) {
  const codes = params === '' ? [0] : params.split(';').map((x) => Number(x) || 0);
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (c === 0) { state.fg = state.bg = null; state.bold = state.dim = state.italic = state.underline = false; }
    else if (c === 1) state.bold = true;
    else if (c === 2) state.dim = true;
    else if (c === 3) state.italic = true;
    else if (c === 4) state.underline = true;
    else if (c === 22) state.bold = state.dim = false;
    else if (c === 23) state.italic = false;
    else if (c === 24) state.underline = false;
    else if (c >= 30 && c <= 37) state.fg = { cls: c - 30 };
    else if (c >= 90 && c <= 97) state.fg = { cls: c - 90 + 8 };
    else if (c === 39) state.fg = null;
    else if (c >= 40 && c <= 47) state.bg = { cls: c - 40 };
    else if (c >= 100 && c <= 107) state.bg = { cls: Math.min(7, c - 100) };
    else if (c === 49) state.bg = null;
    else if (c === 38 || c === 48) {
      let col = null;
      if (codes[i + 1] === 5) { col = color256(codes[i + 2] || 0); i += 2; }
      else if (codes[i + 1] === 2) { col = { rgb: `rgb(${codes[i + 2] || 0},${codes[i + 3] || 0},${codes[i + 4] || 0})` }; i += 4; }
      if (c === 38) state.fg = col; else state.bg = col;
    }
  }
}

/** A raw line as text after its last carriage return (what a terminal would show). */
function visible(line) {
  const cr = line.lastIndexOf('\r', line.length - 2);
  return cr >= 0 ? line.slice(cr + 1) : line;
}

/** [{text, fg, bg, bold, ...}] for one line. */
export function parseAnsi(line) {
  const text = visible(line);
  const out = [];
  const state = { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false };
  let last = 0;
  ESC.lastIndex = 0;
  let m;
  const push = (t) => { if (t) out.push({ text: t, ...state }); };
  while ((m = ESC.exec(text))) {
    push(text.slice(last, m.index));
    if (m[2] === 'm') sgr(state, m[1] || '');
    last = ESC.lastIndex;
  }
  push(text.slice(last));
  return out;
}

export const plainText = (line) => (line.indexOf('\x1b') < 0 && line.indexOf('\r') < 0 ? line : parseAnsi(line).map((s) => s.text).join(''));

function span(seg, text, mark) {
  const cls = [];
  let el;
  if (seg.fg) { if (seg.fg.cls !== undefined) cls.push(`fg${seg.fg.cls}`); }
  if (seg.bg) { if (seg.bg.cls !== undefined) cls.push(`bg${seg.bg.cls}`); }
  if (seg.bold) cls.push('bold');
  if (seg.dim) cls.push('dim');
  if (seg.italic) cls.push('italic');
  if (seg.underline) cls.push('underline');
  if (!cls.length && !(seg.fg && seg.fg.rgb) && !(seg.bg && seg.bg.rgb) && !mark) return document.createTextNode(text);
  el = document.createElement(mark ? 'mark' : 'span');
  if (mark === 'current') cls.push('current');
  if (cls.length) el.className = cls.join(' ');
  if (seg.fg && seg.fg.rgb) el.style.color = seg.fg.rgb;
  if (seg.bg && seg.bg.rgb) el.style.backgroundColor = seg.bg.rgb;
  el.textContent = text;
  return el;
}

// --- the viewer --------------------------------------------------------------------------
export class LogView {
  constructor({ downloadHref, onFollowChange } = {}) {
    this.lines = [];
    this.plain = [];       // search text per line, made on first search
    this.sections = [];    // {title, start, end, status, folded}
    this.lineSec = [];     // section index per line (-1: outside any)
    this.rows = [];        // line index per drawn row (folded lines left out)
    this.open = -1;        // the section still open
    this.follow = true;
    this.live = false;
    this.complete = false;
    this.target = -1;      // the #L line
    this.pendingTarget = 0;
    this.query = '';
    this.matches = [];
    this.current = -1;
    this.drawn = '';
    this.queued = false;
    this.onFollowChange = onFollowChange;
    this.build(downloadHref);
    addEventListener('hashchange', () => this.fromHash());
    this.fromHash();
  }

  build(downloadHref) {
    this.search = h('input', { type: 'search', id: 'log-search', placeholder: 'Search the whole log', autocomplete: 'off', spellcheck: 'false' });
    this.count = h('span', { class: 'count', 'aria-live': 'polite', id: 'log-search-count' });
    this.search.setAttribute('aria-describedby', 'log-search-count');
    this.search.addEventListener('input', () => { clearTimeout(this.searchTimer); this.searchTimer = setTimeout(() => this.find(this.search.value), 120); });
    this.search.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') { ev.preventDefault(); this.find(this.search.value, true); this.step(ev.shiftKey ? -1 : 1); }
      if (ev.key === 'Escape') { this.search.value = ''; this.find(''); }
    });
    this.sizer = h('div', { class: 'log-sizer' });
    this.rowsEl = h('div', { class: 'log-rows' });
    this.sizer.append(this.rowsEl);
    this.empty = h('div', { class: 'log-empty' }, 'Waiting for the log…');
    this.scroller = h('div', { class: 'log-scroll', tabindex: '0', role: 'region', 'aria-label': 'Log lines', id: 'log' }, this.empty, this.sizer);
    this.scroller.addEventListener('scroll', () => {
      const atEnd = this.scroller.scrollTop + this.scroller.clientHeight >= this.scroller.scrollHeight - ROW * 1.5;
      this.setFollow(atEnd);
      this.schedule();
    }, { passive: true });
    this.scroller.addEventListener('click', (ev) => {
      const btn = ev.target.closest('.fold');
      if (btn) this.toggle(Number(btn.dataset.sec));
    });
    this.status = h('span', { id: 'log-status' }, '');
    this.followBtn = h('button', { type: 'button', hidden: true, id: 'log-follow', onclick: () => { this.setFollow(true); this.toEnd(); } }, '↓ Follow the end');
    this.el = h('div', { class: 'log' },
      h('div', { class: 'log-bar' },
        h('div', { class: 'search', role: 'search' },
          h('label', { for: 'log-search', class: 'sr-only' }, 'Search the log'), this.search,
          h('button', { type: 'button', class: 'small', 'aria-label': 'Previous match', onclick: () => this.step(-1) }, '▲'),
          h('button', { type: 'button', class: 'small', 'aria-label': 'Next match', onclick: () => this.step(1) }, '▼'),
          this.count),
        h('button', { type: 'button', class: 'small', onclick: () => this.foldAll(true) }, 'Fold all'),
        h('button', { type: 'button', class: 'small', onclick: () => this.foldAll(false) }, 'Unfold all'),
        downloadHref ? h('a', { class: 'button small', href: downloadHref, download: '', id: 'log-download' }, '⤓ Download') : null),
      this.scroller,
      h('div', { class: 'log-foot' }, this.status, h('span', { class: 'spacer' }), this.followBtn));
    new ResizeObserver(() => this.schedule()).observe(this.scroller);
    this.updateStatus();
  }

  // --- data ---
  append(lines) {
    if (!lines.length) return;
    const first = this.lines.length;
    for (let k = 0; k < lines.length; k++) {
      const i = first + k;
      const line = lines[k];
      this.lines.push(line);
      let sec = this.open;
      if (line.startsWith('Stage: ')) {
        const s = START.exec(line);
        const e = s ? null : END.exec(line);
        if (s) {
          if (this.open >= 0) this.sections[this.open].end = i - 1;
          this.sections.push({ title: s[1], start: i, end: -1, status: 'running', folded: false });
          this.open = sec = this.sections.length - 1;
        } else if (e && this.open >= 0) {
          const cur = this.sections[this.open];
          cur.end = i;
          cur.status = e[2] === 'finish' ? 'success' : e[2].startsWith('skipped') ? 'skipped' : 'failed';
          this.open = -1;
        }
      }
      this.lineSec.push(sec);
      if (sec < 0 || !this.sections[sec].folded || this.sections[sec].start === i) this.rows.push(i);
      if (this.query && this.plain.length === i) {
        const p = plainText(line);
        this.plain.push(p);
        if (p.toLowerCase().includes(this.query)) this.matches.push(i);
      }
    }
    if (this.empty.isConnected) this.empty.remove();
    if (this.pendingTarget && this.pendingTarget <= this.lines.length) this.goto(this.pendingTarget);
    if (this.query) this.updateCount();
    this.dirty = true;
    this.schedule();
  }

  setLive(live) {
    this.live = live;
    this.updateStatus();
  }

  finish() {
    this.complete = true;
    this.live = false;
    if (this.pendingTarget) this.pendingTarget = 0; // that line never came
    if (!this.lines.length) this.empty.textContent = 'This run wrote no log.';
    this.updateStatus();
    this.schedule();
  }

  updateStatus() {
    const n = this.lines.length.toLocaleString();
    this.status.textContent = `${n} lines${this.live ? ' · live' : this.complete ? ' · complete' : ' · loading'}`;
    this.followBtn.hidden = !this.live || this.follow;
  }

  setFollow(on) {
    if (on === this.follow) return;
    this.follow = on;
    this.updateStatus();
    if (this.onFollowChange) this.onFollowChange(on);
  }

  // --- folding ---
  rebuildRows() {
    const rows = [];
    for (let i = 0; i < this.lines.length; i++) {
      const s = this.lineSec[i];
      if (s < 0 || !this.sections[s].folded || this.sections[s].start === i) rows.push(i);
    }
    this.rows = rows;
    this.dirty = true;
  }

  toggle(sec, folded = !this.sections[sec].folded) {
    const anchorLine = this.rows[Math.floor(this.scroller.scrollTop / ROW)];
    this.sections[sec].folded = folded;
    this.rebuildRows();
    this.size();
    if (anchorLine !== undefined) this.scroller.scrollTop = this.rowOf(anchorLine) * ROW;
    this.schedule();
  }

  foldAll(folded) {
    for (const s of this.sections) s.folded = folded;
    this.rebuildRows();
    this.setFollow(false);
    this.scroller.scrollTop = 0;
    this.schedule();
  }

  /** The row showing line i (or its folded section's head). */
  rowOf(i) {
    let lo = 0, hi = this.rows.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.rows[mid] <= i) lo = mid; else hi = mid - 1;
    }
    return lo;
  }

  reveal(i) {
    const s = this.lineSec[i];
    if (s >= 0 && this.sections[s].folded && this.sections[s].start !== i) {
      this.sections[s].folded = false;
      this.rebuildRows();
    }
  }

  scrollToLine(i, where = 1 / 3) {
    this.reveal(i);
    this.setFollow(false);
    this.size();
    const top = this.rowOf(i) * ROW - this.scroller.clientHeight * where;
    this.scroller.scrollTop = Math.max(0, top);
    this.schedule();
  }

  /** Scroll to a stage's section, by its framing title ("Package"). */
  showSection(title) {
    const idx = this.sections.findIndex((s) => s.title === title);
    if (idx < 0) return false;
    this.sections[idx].folded = false;
    this.rebuildRows();
    this.scrollToLine(this.sections[idx].start, 0);
    this.scroller.focus({ preventScroll: true });
    return true;
  }

  toEnd() {
    this.size();
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  // --- #L<n> ---
  fromHash() {
    const m = /^#L(\d+)$/.exec(location.hash);
    if (m) this.goto(Number(m[1]));
  }

  goto(n) {
    if (n < 1) return;
    if (n > this.lines.length) { this.pendingTarget = n; return; }
    this.pendingTarget = 0;
    this.target = n - 1;
    this.scrollToLine(n - 1);
    this.el.scrollIntoView({ block: 'start' }); // the page too: the log may be below the fold
  }

  // --- search ---
  find(text, keep = false) {
    const q = text.trim().toLowerCase();
    if (keep && q === this.query) return;
    this.query = q;
    this.matches = [];
    this.current = -1;
    if (q) {
      for (let i = this.plain.length; i < this.lines.length; i++) this.plain.push(plainText(this.lines[i]));
      for (let i = 0; i < this.plain.length; i++) if (this.plain[i].toLowerCase().includes(q)) this.matches.push(i);
      if (this.matches.length) this.step(1);
    }
    this.updateCount();
    this.dirty = true;
    this.schedule();
  }

  step(dir) {
    if (!this.matches.length) return;
    this.current = (this.current + dir + this.matches.length) % this.matches.length;
    this.scrollToLine(this.matches[this.current], 1 / 2);
    this.updateCount();
    this.dirty = true;
  }

  updateCount() {
    if (!this.query) { this.count.textContent = ''; return; }
    this.count.textContent = this.matches.length ? `${this.current + 1} of ${this.matches.length}` : 'no match';
  }

  // --- drawing ---
  schedule() {
    if (this.queued) return;
    this.queued = true;
    requestAnimationFrame(() => { this.queued = false; this.draw(); });
  }

  /** The sizer's height for every row: set before any scroll, so the target is reachable. */
  size() {
    const height = this.rows.length * ROW;
    if (this.sizedTo !== height) {
      this.sizedTo = height;
      this.sizer.style.height = `${height}px`;
    }
    return height;
  }

  draw() {
    const total = this.rows.length;
    const height = this.size();
    if (this.follow && this.live) this.scroller.scrollTop = height;
    const view = this.scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(this.scroller.scrollTop / ROW) - OVERSCAN);
    const last = Math.min(total, Math.ceil((this.scroller.scrollTop + view) / ROW) + OVERSCAN);
    const key = `${first}:${last}:${total}`;
    if (key === this.drawn && !this.dirty) { this.updateStatus(); this.timings(); return; }
    this.drawn = key;
    this.dirty = false;
    const frag = document.createDocumentFragment();
    const currentLine = this.current >= 0 ? this.matches[this.current] : -1;
    for (let r = first; r < last; r++) frag.append(this.row(this.rows[r], currentLine));
    this.rowsEl.style.top = `${first * ROW}px`;
    this.rowsEl.replaceChildren(frag);
    this.updateStatus();
    this.timings();
  }

  /** Performance marks (ms from navigation) that tests and bench/ui.py read. */
  timings() {
    if (!this.markedFirst && this.rowsEl.firstChild) {
      this.markedFirst = true;
      performance.mark('cyclone:first-line');
    }
    if (this.complete && !this.markedComplete) {
      this.markedComplete = true;
      performance.mark('cyclone:log-complete', { detail: { lines: this.lines.length } });
    }
  }

  row(i, currentLine) {
    const n = i + 1;
    const sec = this.lineSec[i];
    const head = sec >= 0 && this.sections[sec].start === i ? this.sections[sec] : null;
    const el = document.createElement('div');
    el.className = 'ln';
    el.dataset.n = n;
    if (i === this.target) el.classList.add('target');
    const no = document.createElement('a');
    no.className = 'no';
    no.href = `#L${n}`;
    no.textContent = n;
    no.tabIndex = -1;
    el.append(no);
    if (head) {
      el.classList.add('head', head.status);
      const b = document.createElement('button');
      b.className = 'fold';
      b.type = 'button';
      b.dataset.sec = sec;
      b.textContent = head.folded ? '▸' : '▾';
      b.setAttribute('aria-expanded', String(!head.folded));
      b.setAttribute('aria-label', `${head.folded ? 'Unfold' : 'Fold'} ${head.title}`);
      el.append(b);
    } else {
      const pad = document.createElement('span');
      pad.className = 'fold-pad';
      el.append(pad);
    }
    const tx = document.createElement('span');
    tx.className = 'tx';
    this.fill(tx, this.lines[i], i === currentLine);
    if (head && head.folded) tx.append(` (${Math.max(0, (head.end < 0 ? this.lines.length - 1 : head.end) - head.start)} lines folded)`);
    el.append(tx);
    return el;
  }

  fill(tx, line, isCurrent) {
    const q = this.query;
    const segs = parseAnsi(line);
    if (!q) { for (const s of segs) tx.append(span(s, s.text)); return; }
    const plain = segs.map((s) => s.text).join('');
    const lower = plain.toLowerCase();
    const hits = [];
    for (let at = lower.indexOf(q); at >= 0; at = lower.indexOf(q, at + q.length)) hits.push(at);
    if (!hits.length) { for (const s of segs) tx.append(span(s, s.text)); return; }
    let pos = 0;
    let hit = 0;
    for (const s of segs) {
      let off = 0;
      while (off < s.text.length) {
        const abs = pos + off;
        while (hit < hits.length && hits[hit] + q.length <= abs) hit++;
        const inHit = hit < hits.length && hits[hit] <= abs;
        const until = inHit ? hits[hit] + q.length : (hit < hits.length ? hits[hit] : Infinity);
        const take = Math.min(s.text.length - off, until - abs);
        tx.append(span(s, s.text.slice(off, off + take), inHit ? (isCurrent && hit === 0 ? 'current' : 'hit') : null));
        off += take;
      }
      pos += s.text.length;
    }
  }
}
