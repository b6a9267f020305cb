// Job schedules: the list, with enable, disable, terminate and delete.
import { path } from './api.js';
import { h, badge, table, replace, time, dash, action, alertBox, link } from './ui.js';

/** schedulesList lists the job schedules with their actions. */
export function schedulesList(ctx) {
  const c = ctx.client;
  const list = h('div');
  const box = alertBox();
  const el = h('div', {}, h('h1', {}, 'Job schedules'),
    h('p', { class: 'muted' }, 'A job schedule creates a job from its template at each recurrence. Create them with the API, the SDK or the natch CLI.'),
    box, list);

  function actions(s) {
    const p = path`/jobschedules/${s.id}`;
    const after = () => ctx.kick();
    return h('div', { class: 'row-actions' },
      s.state === 'disabled'
        ? action('Enable', async () => { await c.post(`${p}/enable`); after(); }, box)
        : action('Disable', async () => { await c.post(`${p}/disable`); after(); }, box),
      action('Terminate', async () => { await c.post(`${p}/terminate`); after(); }, box,
        { confirmText: `Terminate job schedule ${s.id}? Its active job is terminated too.` }),
      action('Delete', async () => { await c.del(p); after(); }, box,
        { confirmText: `Delete job schedule ${s.id} and its jobs?`, cls: 'danger' }));
  }

  async function refresh() {
    const r = await c.list('/jobschedules', {}, 10);
    replace(list, table([
      { title: 'Schedule', cell: (s) => h('code', {}, s.id) },
      { title: 'State', cell: (s) => badge(s.state) },
      { title: 'Recurrence', cell: (s) => dash(s.schedule?.recurrenceInterval ?? 'once') },
      { title: 'Next run', cell: (s) => time(s.executionInfo?.nextRunTime) },
      { title: 'Recent job', cell: (s) => (s.executionInfo?.recentJob?.id ? link(s.executionInfo.recentJob.id, 'jobs', s.executionInfo.recentJob.id) : '—') },
      { title: 'Pool', cell: (s) => dash(s.jobSpecification?.poolInfo?.poolId) },
      { title: '', cell: (s) => actions(s) },
    ], r.items, 'No job schedules.', { 'data-testid': 'schedules-table' }));
  }
  return { el, refresh, title: 'Job schedules' };
}
