// Overview: the account at a glance.
import { path } from './api.js';
import { h, badge, link, table, section, replace, time, dash } from './ui.js';

const NEWEST = 5;

/** overview shows pools, node counts, jobs by state and the newest jobs. */
export function overview(ctx) {
  const pools = h('div', { 'data-testid': 'overview-pools' });
  const nodes = h('div', { 'data-testid': 'overview-nodes' });
  const jobStates = h('div', { 'data-testid': 'overview-job-states' });
  const newest = h('div', { 'data-testid': 'overview-newest' });
  const el = h('div', {},
    h('h1', {}, 'Overview'),
    section('Pools', pools),
    section('Nodes', nodes),
    section('Jobs by state', jobStates),
    section('Newest jobs', newest));

  async function refresh() {
    const c = ctx.client;
    const [poolList, counts, jobs] = await Promise.all([
      c.list('/pools', { $select: 'id,state,allocationState,currentDedicatedNodes,targetDedicatedNodes,currentLowPriorityNodes,targetLowPriorityNodes,enableAutoScale' }, 10),
      c.list('/nodecounts', {}, 10),
      c.list('/jobs', { $select: 'id,state,creationTime,poolInfo', maxresults: 1000 }, 10),
    ]);
    replace(pools, poolTable(poolList.items));
    replace(nodes, table([
      { title: 'Pool', cell: (r) => link(r.poolId, 'pools', r.poolId) },
      { title: 'Dedicated', cell: (r) => stateCounts(r.dedicated) },
      { title: 'Low priority', cell: (r) => stateCounts(r.lowPriority) },
    ], counts.items.map((r) => ({ ...r, id: r.poolId })), 'No pools, so no nodes.'));
    const byState = new Map();
    for (const j of jobs.items) byState.set(j.state, (byState.get(j.state) ?? 0) + 1);
    replace(jobStates, byState.size === 0
      ? h('p', { class: 'empty' }, 'No jobs yet.')
      : h('ul', { class: 'tiles' }, [...byState.entries()].sort().map(([s, n]) =>
        h('li', { class: 'tile' }, h('div', { class: 'tile-n' }, String(n)), badge(s)))));
    const top = [...jobs.items]
      .sort((a, b) => String(b.creationTime).localeCompare(String(a.creationTime)))
      .slice(0, NEWEST);
    const tc = await Promise.all(top.map((j) => c.get(path`/jobs/${j.id}/taskcounts`).catch(() => null)));
    replace(newest, table([
      { title: 'Job', cell: (r) => link(r.id, 'jobs', r.id) },
      { title: 'State', cell: (r) => badge(r.state) },
      { title: 'Pool', cell: (r) => dash(r.poolInfo?.poolId) },
      { title: 'Created', cell: (r) => time(r.creationTime) },
      { title: 'Tasks', cell: (r) => taskCounts(r.counts) },
    ], top.map((j, i) => ({ ...j, counts: tc[i]?.taskCounts })), 'No jobs yet.'));
  }
  return { el, refresh, title: 'Overview' };
}

/** poolTable is the pools table shared by the overview and the pools page. */
export function poolTable(items) {
  return table([
    { title: 'Pool', cell: (p) => link(p.id, 'pools', p.id) },
    { title: 'State', cell: (p) => badge(p.state) },
    { title: 'Allocation', cell: (p) => badge(p.allocationState) },
    { title: 'Dedicated (current / target)', cell: (p) => `${p.currentDedicatedNodes ?? 0} / ${p.targetDedicatedNodes ?? 0}`, class: 'num' },
    { title: 'Low priority (current / target)', cell: (p) => `${p.currentLowPriorityNodes ?? 0} / ${p.targetLowPriorityNodes ?? 0}`, class: 'num' },
    { title: 'Autoscale', cell: (p) => (p.enableAutoScale ? 'on' : 'off') },
  ], items, 'No pools yet. Create one on the Pools page.', { 'data-testid': 'pools-table' });
}

/** stateCounts lists the non-zero node states of a count object. */
function stateCounts(m) {
  if (!m || !m.total) return h('span', { class: 'muted' }, '0');
  const parts = Object.entries(m).filter(([k, v]) => k !== 'total' && v > 0).sort();
  return h('span', {}, h('strong', {}, String(m.total)), ' ', parts.map(([k, v]) => h('span', { class: 'chip' }, badge(k), ` ${v}`)));
}

/** taskCounts shows a job's task counts. */
export function taskCounts(tc) {
  if (!tc) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'counts' },
    ['active', 'running', 'completed', 'succeeded', 'failed'].map((k) =>
      h('span', { class: `count count-${k}`, title: k, 'data-count': k }, `${k} ${tc[k] ?? 0}`)));
}
