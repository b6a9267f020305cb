// Jobs: the list (state filter, paging, create form) and a job's page
// (properties, task counts, tasks with paging, add task, job actions).
import { path } from './api.js';
import {
  h, badge, table, section, replace, time, dash, props, form, field, action, alertBox,
  showNotice, intOrUndef, route, link, duration,
} from './ui.js';
import { taskCounts } from './overview.js';

const JOB_STATES = ['active', 'disabling', 'disabled', 'enabling', 'terminating', 'completed', 'deleting'];

/**
 * pager keeps a paged list: how many pages are shown, and re-reads that
 * many on refresh so that "load more" survives the auto-refresh.
 */
function pager(load) {
  const st = { pages: 1, next: '' };
  return {
    st,
    async read() {
      const r = await load(st.pages);
      st.next = r.next;
      return r.items;
    },
  };
}

/** jobsList lists jobs by state and creates new ones. */
export function jobsList(ctx) {
  const c = ctx.client;
  const filter = h('select', { name: 'state', 'aria-label': 'State filter' },
    h('option', { value: '' }, 'all states'), JOB_STATES.map((s) => h('option', { value: s }, s)));
  const list = h('div');
  const more = h('button', { type: 'button', class: 'more', hidden: true }, 'Load more');
  const pg = pager((pages) => c.list('/jobs', filter.value ? { $filter: `state eq '${filter.value}'` } : {}, pages));
  filter.addEventListener('change', () => {
    pg.st.pages = 1;
    ctx.kick();
  });
  more.addEventListener('click', () => {
    pg.st.pages += 1;
    ctx.kick();
  });

  const poolSelect = h('select', { name: 'poolId', required: true });
  const create = form('Create a job', [
    field('Job id', h('input', { name: 'id', required: true, autocomplete: 'off' })),
    field('Pool', poolSelect),
    field('Priority', h('input', { name: 'priority', type: 'number', min: -1000, max: 1000, value: '0' })),
    field('When all tasks complete', h('select', { name: 'onAllTasksComplete' },
      h('option', { value: 'noaction' }, 'noaction (keep the job active)'),
      h('option', { value: 'terminatejob' }, 'terminatejob'))),
  ], 'Create job', async (v) => {
    const id = v.id.trim();
    await c.post('/jobs', {
      id, poolInfo: { poolId: v.poolId }, priority: intOrUndef(v.priority), onAllTasksComplete: v.onAllTasksComplete,
    });
    return id;
  }, { done: (id) => ctx.go(route('jobs', id)), cls: 'create-job' });

  const el = h('div', {}, h('h1', {}, 'Jobs'),
    h('section', { class: 'section' }, h('div', { class: 'section-head' }, h('h2', {}, 'Jobs'), h('label', {}, 'Show ', filter)), list, more),
    create);

  async function refresh() {
    const [items, pools] = await Promise.all([pg.read(), c.list('/pools', { $select: 'id' }, 10)]);
    replace(list, table([
      { title: 'Job', cell: (j) => link(j.id, 'jobs', j.id) },
      { title: 'State', cell: (j) => badge(j.state) },
      { title: 'Pool', cell: (j) => (j.poolInfo?.poolId ? link(j.poolInfo.poolId, 'pools', j.poolInfo.poolId) : dash(j.executionInfo?.poolId)) },
      { title: 'Priority', cell: (j) => String(j.priority ?? 0), class: 'num' },
      { title: 'Created', cell: (j) => time(j.creationTime) },
    ], items, filter.value ? `No ${filter.value} jobs.` : 'No jobs yet.', { 'data-testid': 'jobs-table' }));
    more.hidden = !pg.st.next;
    syncOptions(poolSelect, pools.items.map((p) => p.id), 'no pools: create one first');
  }
  return { el, refresh, title: 'Jobs' };
}

/** syncOptions updates a select's options, keeping the chosen value. */
function syncOptions(sel, values, emptyText) {
  const have = [...sel.options].map((o) => o.value);
  const want = values.length ? values : [''];
  if (have.length === want.length && have.every((v, i) => v === want[i])) return;
  const chosen = sel.value;
  sel.replaceChildren(...(values.length ? values.map((v) => h('option', { value: v }, v)) : [h('option', { value: '' }, emptyText)]));
  if (values.includes(chosen)) sel.value = chosen;
}

/** jobDetail shows one job: properties, task counts, tasks and actions. */
export function jobDetail(ctx, id) {
  const c = ctx.client;
  const p = path`/jobs/${id}`;
  const info = h('div', { 'data-testid': 'job-props' });
  const counts = h('div', { 'data-testid': 'job-counts' });
  const tasks = h('div');
  const more = h('button', { type: 'button', class: 'more', hidden: true }, 'Load more');
  const pg = pager((pages) => c.list(`${p}/tasks`, {}, pages));
  more.addEventListener('click', () => {
    pg.st.pages += 1;
    ctx.kick();
  });
  const box = alertBox();

  const add = form('Add a task', [
    field('Task id', h('input', { name: 'id', required: true, autocomplete: 'off' })),
    field('Command line', h('input', { name: 'commandLine', required: true, autocomplete: 'off', spellcheck: 'false' }),
      'Not run under a shell (as on Azure Batch): use /bin/sh -c "…" for pipes, $VARS or &&.'),
    field('Max retries (optional)', h('input', { name: 'maxTaskRetryCount', type: 'number', min: -1 })),
  ], 'Add task', async (v) => {
    const body = { id: v.id.trim(), commandLine: v.commandLine };
    const retries = intOrUndef(v.maxTaskRetryCount);
    if (retries !== undefined) body.constraints = { maxTaskRetryCount: retries };
    await c.post(`${p}/tasks`, body);
    return body.id;
  }, {
    cls: 'add-task',
    done: async (taskId, fbox) => {
      showNotice(fbox, `Task ${taskId} added.`);
      ctx.kick();
    },
  });

  const el = h('div', {},
    h('p', { class: 'crumbs' }, h('a', { href: route('jobs') }, 'Jobs'), ' / '),
    h('h1', {}, 'Job ', h('span', { class: 'id' }, id)),
    h('div', { class: 'toolbar' },
      action('Disable', async () => { await c.post(`${p}/disable`, { disableTasks: 'requeue' }); ctx.kick(); }, box),
      action('Enable', async () => { await c.post(`${p}/enable`); ctx.kick(); }, box),
      action('Terminate', async () => { await c.post(`${p}/terminate`); ctx.kick(); }, box,
        { confirmText: `Terminate job ${id}? Its running tasks stop.` }),
      action('Delete job', async () => { await c.del(p); ctx.go(route('jobs')); }, box,
        { confirmText: `Delete job ${id} and all its tasks?`, cls: 'danger' })),
    box,
    section('Properties', info),
    section('Task counts', counts),
    h('section', { class: 'section' }, h('h2', {}, 'Tasks'), tasks, more),
    add);

  async function refresh() {
    const [job, tc, items] = await Promise.all([c.get(p), c.get(`${p}/taskcounts`), pg.read()]);
    const ex = job.executionInfo ?? {};
    replace(info, props([
      ['State', h('span', { 'data-testid': 'job-state' }, badge(job.state))],
      ['Pool', job.poolInfo?.poolId ? link(job.poolInfo.poolId, 'pools', job.poolInfo.poolId) : dash(ex.poolId)],
      ['Priority', String(job.priority ?? 0)],
      ['When all tasks complete', dash(job.onAllTasksComplete)],
      ['On task failure', dash(job.onTaskFailure)],
      ['Max parallel tasks', job.maxParallelTasks === -1 || job.maxParallelTasks === undefined ? 'unlimited' : String(job.maxParallelTasks)],
      ['Created', time(job.creationTime)],
      ['Started', time(ex.startTime)],
      ex.endTime ? ['Ended', time(ex.endTime)] : null,
      ex.terminateReason ? ['Terminate reason', ex.terminateReason] : null,
      ex.schedulingError ? ['Scheduling error', `${ex.schedulingError.code ?? ''} ${ex.schedulingError.message ?? ''}`] : null,
    ]));
    replace(counts, taskCounts(tc?.taskCounts));
    replace(tasks, table([
      { title: 'Task', cell: (t) => link(t.id, 'jobs', id, 'tasks', t.id) },
      { title: 'State', cell: (t) => badge(t.state) },
      { title: 'Exit code', cell: (t) => dash(t.executionInfo?.exitCode), class: 'num' },
      { title: 'Node', cell: (t) => dash(t.nodeInfo?.nodeId) },
      { title: 'Start', cell: (t) => time(t.executionInfo?.startTime) },
      { title: 'End', cell: (t) => time(t.executionInfo?.endTime) },
      { title: 'Duration', cell: (t) => duration(t.executionInfo?.startTime, t.executionInfo?.endTime), class: 'num' },
    ], items, 'No tasks yet. Add one below.', { 'data-testid': 'tasks-table' }));
    more.hidden = !pg.st.next;
  }
  return { el, refresh, title: `Job ${id}` };
}
