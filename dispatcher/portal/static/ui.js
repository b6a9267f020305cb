// DOM helpers of the portal. Everything that comes from the API is put in
// the page as text (textContent, attributes), never parsed as HTML.

let nextID = 0;

/**
 * h builds an element: h('a', {href: '#/jobs', class: 'x', onclick: fn}, 'text', child).
 * Attributes starting with "on" are event listeners; children are nodes or
 * strings (text); null, undefined and false are skipped; arrays are flattened.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') {
      el.className = v;
    } else if (k === 'value') {
      el.value = v;
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** uid returns a fresh element id, for label/input pairs. */
export function uid(prefix = 'f') {
  nextID += 1;
  return `${prefix}-${nextID}`;
}

/** link is an in-app link to a hash route built from path segments. */
export function link(text, ...segments) {
  return h('a', { href: route(...segments) }, text);
}

/** route returns the hash of a route from its segments, each percent-encoded. */
export function route(...segments) {
  return '#/' + segments.map((s) => encodeURIComponent(String(s))).join('/');
}

/** badge shows a state with its colour. */
export function badge(state) {
  if (state === undefined || state === null || state === '') return h('span', { class: 'muted' }, '—');
  const cls = String(state).toLowerCase().replace(/[^a-z]/g, '');
  return h('span', { class: `badge badge-${cls}`, 'data-state': String(state) }, String(state));
}

/** ago says how long ago (or in how long) a time is. */
export function ago(t, now = Date.now()) {
  const d = Math.round((now - new Date(t).getTime()) / 1000);
  const a = Math.abs(d);
  let s;
  if (a < 60) s = `${a} s`;
  else if (a < 3600) s = `${Math.floor(a / 60)} min`;
  else if (a < 86400) s = `${Math.floor(a / 3600)} h`;
  else s = `${Math.floor(a / 86400)} d`;
  return d >= 0 ? `${s} ago` : `in ${s}`;
}

/** time shows a timestamp in local time, with the relative time. */
export function time(t) {
  if (!t) return h('span', { class: 'muted' }, '—');
  const d = new Date(t);
  return h('time', { datetime: d.toISOString(), title: d.toISOString() }, d.toLocaleString(), ' ', h('span', { class: 'muted' }, `(${ago(t)})`));
}

/** duration formats the time between two timestamps (end defaults to now). */
export function duration(start, end) {
  if (!start) return '—';
  let ms = (end ? new Date(end) : new Date()) - new Date(start);
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** bytes formats a size. */
export function bytes(n) {
  if (n === undefined || n === null) return '—';
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MB`;
  return `${(n / (1 << 30)).toFixed(1)} GB`;
}

/** dash shows a value or a dash for none. */
export function dash(v) {
  return v === undefined || v === null || v === '' ? '—' : String(v);
}

/**
 * table builds a table. columns: [{title, cell: row => node|string, class?}].
 * An empty list shows the empty message instead.
 */
export function table(columns, rows, empty = 'Nothing here yet.', attrs = {}) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('table', attrs,
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.title)))),
    h('tbody', {}, rows.map((r) => h('tr', { 'data-id': r.id ?? null },
      columns.map((c) => h('td', { class: c.class ?? null }, c.cell(r)))))));
}

/** props builds a definition list from [label, value] pairs (value: node or string). */
export function props(pairs) {
  return h('dl', { class: 'props' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '—')]));
}

/** alertBox returns an element that shows errors and notices (role=alert). */
export function alertBox() {
  return h('div', { class: 'alerts', role: 'alert', 'aria-live': 'polite' });
}

/** showError shows an ApiError (or any error) in an alert box. */
export function showError(box, err) {
  const code = err?.code ?? 'Error';
  const parts = [h('strong', { class: 'code' }, code), ' ', h('span', { class: 'message' }, err?.message ?? String(err))];
  const values = err?.values?.length
    ? h('ul', { class: 'values' }, err.values.map((v) => h('li', {}, h('code', {}, v.key), ': ', h('code', {}, v.value))))
    : null;
  const rid = err?.requestId ? h('div', { class: 'muted small' }, `request-id ${err.requestId}`) : null;
  box.replaceChildren(h('div', { class: 'alert alert-error', 'data-code': code }, parts, values, rid));
}

/** showNotice shows a success message in an alert box. */
export function showNotice(box, text) {
  box.replaceChildren(h('div', { class: 'alert alert-ok' }, text));
}

/** clear empties an element. */
export function clear(el) {
  el.replaceChildren();
}

/**
 * field is a labelled form control: field('Pool id', h('input', {name: 'id'})).
 * hint is an optional line of help.
 */
export function field(label, control, hint) {
  const id = control.id || uid();
  control.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hint ? h('small', { class: 'hint' }, hint) : null);
}

/**
 * form builds a form whose submit runs action(values) with the form's
 * named values; errors show in the form's own alert box and the inputs
 * keep what the user typed. A success calls done (if any) with the result.
 */
export function form(title, fields, submitLabel, action, { done, resetOnSuccess = true, cls = '' } = {}) {
  const box = alertBox();
  const button = h('button', { type: 'submit', class: 'primary' }, submitLabel);
  const el = h('form', { class: `card form ${cls}`, novalidate: true, 'aria-label': title },
    title ? h('h3', {}, title) : null, fields, h('div', { class: 'actions' }, button), box);
  el.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(box);
    const values = Object.fromEntries(new FormData(el).entries());
    button.disabled = true;
    try {
      const r = await action(values, box);
      if (resetOnSuccess) el.reset();
      if (done) await done(r, box);
    } catch (err) {
      showError(box, err);
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

/**
 * action is a button that runs fn, shows its error in box, and asks
 * first when confirmText is given.
 */
export function action(label, fn, box, { confirmText, cls = '' } = {}) {
  const b = h('button', { type: 'button', class: cls }, label);
  b.addEventListener('click', async () => {
    if (confirmText && !window.confirm(confirmText)) return;
    clear(box);
    b.disabled = true;
    try {
      await fn(box);
    } catch (err) {
      showError(box, err);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

/** intOrUndef parses an optional integer form value. */
export function intOrUndef(v) {
  if (v === undefined || v === null || String(v).trim() === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : v; // the API names a bad value
}

/** section is a titled block of a page. */
export function section(title, ...children) {
  return h('section', { class: 'section' }, h('h2', {}, title), children);
}

/** replace swaps an element's children for one new child, keeping the page's scroll. */
export function replace(el, child) {
  const x = window.scrollX;
  const y = window.scrollY;
  el.replaceChildren(child);
  window.scrollTo(x, y);
}
