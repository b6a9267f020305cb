// A task's page: state, execution and failure information, constraints,
// dependencies, its files (stdout.txt and stderr.txt shown inline, any
// listed file on demand, downloads through a signed fetch) and actions.
import { path } from './api.js';
import {
  h, badge, table, section, replace, time, dash, props, action, alertBox, route, duration, bytes, showError, clear,
} from './ui.js';

/** MAX_VIEW is how much of a file is shown inline (ocp-range). */
const MAX_VIEW = 256 * 1024;

/** taskDetail shows one task of a job. */
export function taskDetail(ctx, jobId, taskId) {
  const c = ctx.client;
  const p = path`/jobs/${jobId}/tasks/${taskId}`;
  const info = h('div', { 'data-testid': 'task-props' });
  const files = h('div', { 'data-testid': 'task-files' });
  const viewers = h('div', { class: 'viewers' });
  const box = alertBox();
  const filesBox = alertBox();
  // The files shown inline: name → {el, size}. stdout and stderr by default.
  const shown = new Map();
  let listed = new Map();

  const el = h('div', {},
    h('p', { class: 'crumbs' }, h('a', { href: route('jobs') }, 'Jobs'), ' / ', h('a', { href: route('jobs', jobId) }, jobId), ' / '),
    h('h1', {}, 'Task ', h('span', { class: 'id' }, taskId)),
    h('div', { class: 'toolbar' },
      action('Terminate', async () => { await c.post(`${p}/terminate`); ctx.kick(); }, box),
      action('Reactivate', async () => { await c.post(`${p}/reactivate`); ctx.kick(); }, box),
      action('Delete task', async () => { await c.del(p); ctx.go(route('jobs', jobId)); }, box,
        { confirmText: `Delete task ${taskId}?`, cls: 'danger' })),
    box,
    section('Task', info),
    section('Files', filesBox, files),
    viewers);

  function viewer(name) {
    let v = shown.get(name);
    if (v) return v;
    const pre = h('pre', { class: 'file', 'data-file': name, tabindex: 0 });
    const note = h('div', { class: 'muted small' });
    const vbox = alertBox();
    const el2 = h('section', { class: 'section file-view' },
      h('div', { class: 'section-head' }, h('h2', {}, h('code', {}, name)),
        h('div', {}, downloadButton(name, vbox))),
      vbox, note, pre);
    v = { el: el2, pre, note, box: vbox, size: -1 };
    shown.set(name, v);
    viewers.append(el2);
    return v;
  }

  async function load(name, force) {
    const v = viewer(name);
    const f = listed.get(name);
    const size = f?.properties?.contentLength ?? -1;
    if (!force && size === v.size) return; // unchanged since the last read
    const headers = size > MAX_VIEW ? { 'ocp-range': `bytes=0-${MAX_VIEW - 1}` } : {};
    try {
      const resp = await c.send('GET', path`/jobs/${jobId}/tasks/${taskId}/files/${name}`, { as: 'response', headers });
      const buf = await resp.arrayBuffer();
      v.pre.textContent = new TextDecoder('utf-8').decode(buf);
      v.note.textContent = size > MAX_VIEW ? `The first ${bytes(MAX_VIEW)} of ${bytes(size)}; download for the rest.` : (buf.byteLength === 0 ? '(empty)' : '');
      v.size = size;
      clear(v.box);
    } catch (err) {
      showError(v.box, err);
    }
  }

  function downloadButton(name, vbox) {
    return action('Download', async () => {
      const resp = await c.send('GET', path`/jobs/${jobId}/tasks/${taskId}/files/${name}`, { as: 'response' });
      const blob = await resp.blob();
      const url = URL.createObjectURL(blob);
      const a = h('a', { href: url, download: name.split('/').pop() });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    }, vbox);
  }

  async function refresh() {
    const t = await c.get(p);
    const ex = t.executionInfo ?? {};
    const fi = ex.failureInfo;
    const cons = t.constraints ?? {};
    replace(info, props([
      ['State', h('span', { 'data-testid': 'task-state' }, badge(t.state))],
      t.natchWaitReason ? ['Waiting because', t.natchWaitReason] : null,
      ['Command line', h('code', { class: 'cmd' }, t.commandLine ?? '')],
      ['Exit code', h('span', { 'data-testid': 'task-exit-code' }, dash(ex.exitCode))],
      ['Result', ex.result ? badge(ex.result) : '—'],
      fi ? ['Failure', h('div', { class: 'alert alert-error', 'data-code': fi.code ?? '' },
        h('strong', {}, fi.code ?? fi.category ?? 'failure'), ' ', fi.message ?? '',
        fi.details?.length ? h('ul', { class: 'values' }, fi.details.map((d) => h('li', {}, h('code', {}, d.name ?? ''), ': ', h('code', {}, d.value ?? '')))) : null)] : null,
      ['Retries', `${ex.retryCount ?? 0}${cons.maxTaskRetryCount !== undefined ? ` of ${cons.maxTaskRetryCount === -1 ? 'unlimited' : cons.maxTaskRetryCount}` : ''}`],
      ['Requeues', String(ex.requeueCount ?? 0)],
      ['Created', time(t.creationTime)],
      ['Started', time(ex.startTime)],
      ['Ended', time(ex.endTime)],
      ['Duration', duration(ex.startTime, ex.endTime)],
      ['Node', t.nodeInfo?.nodeId ? h('span', {}, h('a', { href: route('pools', t.nodeInfo.poolId ?? '') }, t.nodeInfo.poolId ?? ''), ' / ', h('code', {}, t.nodeInfo.nodeId)) : '—'],
      t.nodeInfo?.taskRootDirectory ? ['Task directory', h('code', {}, t.nodeInfo.taskRootDirectory)] : null,
      ['Max wall clock time', cons.maxWallClockTime?.startsWith('P10675199D') ? 'unlimited' : dash(cons.maxWallClockTime)],
      ['Retention time', dash(cons.retentionTime)],
      t.dependsOn ? ['Depends on', [
        ...(t.dependsOn.taskIds ?? []).map((d) => h('a', { href: route('jobs', jobId, 'tasks', d), class: 'dep' }, d)),
        ...(t.dependsOn.taskIdRanges ?? []).map((r) => h('span', { class: 'dep' }, `${r.start}–${r.end}`)),
      ]] : null,
      t.exitConditions ? ['Exit conditions', h('pre', { class: 'code' }, JSON.stringify(t.exitConditions, null, 2))] : null,
    ]));
    if (!t.nodeInfo?.nodeId) {
      replace(files, h('p', { class: 'empty' }, 'No files yet: the task has not run on a node.'));
      return;
    }
    let fl;
    try {
      fl = await c.list(`${p}/files`, { recursive: 'true' }, 10);
      clear(filesBox);
    } catch (err) {
      showError(filesBox, err); // e.g. the node is gone: the task's state still shows
      return;
    }
    listed = new Map(fl.items.filter((f) => !f.isDirectory).map((f) => [f.name, f]));
    replace(files, table([
      { title: 'Name', cell: (f) => h('code', {}, f.name) },
      { title: 'Size', cell: (f) => bytes(f.properties?.contentLength), class: 'num' },
      { title: 'Modified', cell: (f) => time(f.properties?.lastModified) },
      { title: '', cell: (f) => h('button', { type: 'button', class: 'link', onclick: () => load(f.name, true) }, 'View') },
    ], [...listed.values()].map((f) => ({ ...f, id: f.name })), 'No files.', { 'data-testid': 'files-table' }));
    for (const name of ['stdout.txt', 'stderr.txt']) {
      if (listed.has(name)) await load(name, false);
    }
    for (const name of shown.keys()) {
      if (name !== 'stdout.txt' && name !== 'stderr.txt' && listed.has(name)) await load(name, false);
    }
  }
  return { el, refresh, title: `Task ${taskId}` };
}
