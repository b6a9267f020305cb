// Pools: the list with a create form, and a pool's page with its nodes
// (disable or enable scheduling, reboot, remove), resize, autoscale
// (enable, evaluate, disable) and delete.
import { path } from './api.js';
import {
  h, badge, table, section, replace, time, dash, props, form, field, action, alertBox,
  showNotice, intOrUndef, route,
} from './ui.js';
import { poolTable } from './overview.js';

/** poolsList lists the pools and creates new ones. */
export function poolsList(ctx) {
  const list = h('div');
  const create = form('Create a pool', [
    field('Pool id', h('input', { name: 'id', required: true, autocomplete: 'off' })),
    field('VM size', h('input', { name: 'vmSize', value: 'standard_d2s_v3' })),
    field('Target dedicated nodes', h('input', { name: 'targetDedicatedNodes', type: 'number', min: 0, value: '1' })),
    field('Task slots per node', h('input', { name: 'taskSlotsPerNode', type: 'number', min: 1, value: '1' })),
    field('Start task command line (optional)', h('input', { name: 'startTask', autocomplete: 'off' }),
      'Runs on each node as it joins; not under a shell: use /bin/sh -c "…" for one.'),
  ], 'Create pool', async (v) => {
    const body = {
      id: v.id.trim(),
      vmSize: v.vmSize.trim() || 'standard_d2s_v3',
      targetDedicatedNodes: intOrUndef(v.targetDedicatedNodes),
      taskSlotsPerNode: intOrUndef(v.taskSlotsPerNode),
    };
    if (v.startTask.trim()) body.startTask = { commandLine: v.startTask.trim(), waitForSuccess: true };
    await ctx.client.post('/pools', body);
    return body.id;
  }, { done: (id) => ctx.go(route('pools', id)), cls: 'create-pool' });
  const el = h('div', {}, h('h1', {}, 'Pools'), section('All pools', list), create);
  async function refresh() {
    const r = await ctx.client.list('/pools', {}, 10);
    replace(list, poolTable(r.items));
  }
  return { el, refresh, title: 'Pools' };
}

/** poolDetail shows one pool: properties, nodes and actions. */
export function poolDetail(ctx, id) {
  const c = ctx.client;
  const p = path`/pools/${id}`;
  const info = h('div', { 'data-testid': 'pool-props' });
  const nodes = h('div', { 'data-testid': 'pool-nodes', class: 'table-scroll' });
  const actionsBox = alertBox();

  const resize = form('Resize', [
    field('Target dedicated nodes', h('input', { name: 'targetDedicatedNodes', type: 'number', min: 0 })),
    field('Target low-priority nodes', h('input', { name: 'targetLowPriorityNodes', type: 'number', min: 0 })),
    field('When nodes leave', h('select', { name: 'nodeDeallocationOption' },
      ['requeue', 'terminate', 'taskcompletion', 'retaineddata'].map((o) => h('option', { value: o }, o)))),
  ], 'Resize', async (v, box) => {
    await c.post(`${p}/resize`, {
      targetDedicatedNodes: intOrUndef(v.targetDedicatedNodes),
      targetLowPriorityNodes: intOrUndef(v.targetLowPriorityNodes),
      nodeDeallocationOption: v.nodeDeallocationOption,
    });
    showNotice(box, 'Resize requested.');
    ctx.kick();
  }, { resetOnSuccess: false, cls: 'resize-pool' });

  let prefilled = false;
  const evalResult = h('div', { 'data-testid': 'autoscale-result' });
  const formula = h('textarea', { name: 'autoScaleFormula', rows: 4, spellcheck: 'false' },
    '$TargetDedicatedNodes = min(4, max($PendingTasks.GetSample(1)));\n$NodeDeallocationOption = taskcompletion;');
  const interval = h('input', { name: 'autoScaleEvaluationInterval', value: 'PT5M' });
  const autoscaleBox = alertBox();
  const autoscale = h('div', { class: 'card form autoscale' },
    h('h3', {}, 'Autoscale'),
    field('Formula', formula, 'Azure Batch autoscale formula language; see docs/concepts.md.'),
    field('Evaluation interval', interval, 'ISO 8601 duration; natch accepts down to PT1S.'),
    h('div', { class: 'actions' },
      action('Evaluate', async (box) => {
        const run = await c.post(`${p}/evaluateautoscale`, { autoScaleFormula: formula.value });
        replace(evalResult, autoScaleRun(run, 'Evaluation'));
      }, autoscaleBox),
      action('Enable autoscale', async (box) => {
        await c.post(`${p}/enableautoscale`, { autoScaleFormula: formula.value, autoScaleEvaluationInterval: interval.value.trim() || undefined });
        showNotice(box, 'Autoscale enabled.');
        ctx.kick();
      }, autoscaleBox, { cls: 'primary' }),
      action('Disable autoscale', async (box) => {
        await c.post(`${p}/disableautoscale`);
        showNotice(box, 'Autoscale disabled.');
        ctx.kick();
      }, autoscaleBox)),
    autoscaleBox, evalResult);

  const el = h('div', {},
    h('p', { class: 'crumbs' }, h('a', { href: route('pools') }, 'Pools'), ' / '),
    h('h1', {}, 'Pool ', h('span', { class: 'id' }, id)),
    h('div', { class: 'toolbar' },
      action('Delete pool', async () => {
        await c.del(p);
        ctx.go(route('pools'));
      }, actionsBox, { confirmText: `Delete pool ${id} and stop its nodes?`, cls: 'danger' })),
    actionsBox,
    section('Properties', info),
    section('Nodes', nodes),
    h('div', { class: 'grid2' }, resize, autoscale));

  // nodeActions are a node's buttons; errors and notices go to the page's
  // alert box (above the table, so a refresh keeps them). After a change
  // the page refreshes through ctx.kick, which waits for a refresh under
  // way (whose read may predate the change) and then reads again, so an
  // older read never paints over the new state.
  function nodeActions(n) {
    const np = path`/pools/${id}/nodes/${n.id}`;
    const done = (text) => { showNotice(actionsBox, text); ctx.kick(); };
    return h('div', { class: 'row-actions' },
      n.schedulingState === 'disabled'
        ? action('Enable scheduling', async () => {
          await c.post(`${np}/enablescheduling`);
          done(`Node ${n.id}: scheduling enabled.`);
        }, actionsBox)
        : action('Disable scheduling', async () => {
          await c.post(`${np}/disablescheduling`, { nodeDisableSchedulingOption: 'requeue' });
          done(`Node ${n.id}: scheduling disabled.`);
        }, actionsBox),
      action('Reboot', async () => {
        await c.post(`${np}/reboot`, { nodeRebootOption: 'requeue' });
        done(`Node ${n.id}: reboot requested.`);
      }, actionsBox, { confirmText: `Reboot node ${n.id}? Its running tasks are requeued.` }),
      action('Remove', async () => {
        await c.post(`${p}/removenodes`, { nodeList: [n.id], nodeDeallocationOption: 'requeue' });
        done(`Node ${n.id}: removal requested; the pool's target drops by one.`);
      }, actionsBox, { confirmText: `Remove node ${n.id} from pool ${id}? Its running tasks are requeued and the pool's target drops by one.`, cls: 'danger' }));
  }

  async function refresh() {
    const [pool, nl] = await Promise.all([c.get(p), c.list(`${p}/nodes`, {}, 10)]);
    if (!prefilled) { // the resize form starts from the current targets, once
      prefilled = true;
      const { targetDedicatedNodes: d, targetLowPriorityNodes: l } = resize.elements;
      if (d.value === '' && document.activeElement !== d) d.value = String(pool.targetDedicatedNodes ?? 0);
      if (l.value === '' && document.activeElement !== l) l.value = String(pool.targetLowPriorityNodes ?? 0);
    }
    replace(info, props([
      ['State', badge(pool.state)],
      ['Allocation state', badge(pool.allocationState)],
      ['VM size', dash(pool.vmSize)],
      ['Dedicated nodes (current / target)', h('span', { 'data-testid': 'pool-dedicated' }, `${pool.currentDedicatedNodes ?? 0} / ${pool.targetDedicatedNodes ?? 0}`)],
      ['Low-priority nodes (current / target)', `${pool.currentLowPriorityNodes ?? 0} / ${pool.targetLowPriorityNodes ?? 0}`],
      ['Task slots per node', dash(pool.taskSlotsPerNode)],
      ['Autoscale', h('span', { 'data-testid': 'pool-autoscale' }, pool.enableAutoScale ? 'on' : 'off')],
      pool.enableAutoScale ? ['Formula', h('pre', { class: 'code' }, pool.autoScaleFormula ?? '')] : null,
      pool.enableAutoScale ? ['Evaluation interval', dash(pool.autoScaleEvaluationInterval)] : null,
      pool.autoScaleRun ? ['Last autoscale run', autoScaleRun(pool.autoScaleRun, 'Run')] : null,
      pool.startTask ? ['Start task', h('code', {}, pool.startTask.commandLine ?? '')] : null,
      pool.resizeErrors?.length ? ['Resize errors', h('ul', {}, pool.resizeErrors.map((e) => h('li', {}, h('strong', {}, e.code ?? ''), ' ', e.message ?? '')))] : null,
      ['Created', time(pool.creationTime)],
      ['Allocation changed', time(pool.allocationStateTransitionTime)],
    ]));
    replace(nodes, table([
      { title: 'Node', cell: (n) => h('code', {}, breakable(n.id)) },
      { title: 'State', cell: (n) => badge(n.state) },
      { title: 'Scheduling', cell: (n) => dash(n.schedulingState) },
      { title: 'Running tasks', cell: (n) => String(n.runningTasksCount ?? 0), class: 'num' },
      { title: 'Running slots', cell: (n) => `${n.runningTaskSlotsCount ?? 0} / ${pool.taskSlotsPerNode ?? 1}`, class: 'num' },
      { title: 'Tasks run', cell: (n) => String(n.totalTasksRun ?? 0), class: 'num' },
      { title: 'Dedicated', cell: (n) => (n.isDedicated ? 'yes' : 'low priority') },
      { title: 'IP address', cell: (n) => dash(n.ipAddress) },
      { title: 'Since', cell: (n) => time(n.stateTransitionTime) },
      { title: '', cell: (n) => nodeActions(n), class: 'node-actions' },
    ], nl.items, 'No nodes (yet). Nodes appear as the pool resizes.', { 'data-testid': 'nodes-table', class: 'nodes' }));
  }
  return { el, refresh, title: `Pool ${id}` };
}

/**
 * breakable returns an id as text nodes with a line-break opportunity (wbr)
 * after each _ or -, so a long node id can wrap there in a narrow table.
 */
function breakable(id) {
  return String(id ?? '').split(/(?<=[_-])/).flatMap((part, i) => (i ? [h('wbr'), part] : [part]));
}

/** autoScaleRun shows an autoscale run: its results, or its error. */
function autoScaleRun(run, label) {
  if (!run) return h('span', { class: 'muted' }, '—');
  const results = (run.results ?? '').split(';').filter((s) => s.trim() !== '');
  return h('div', { class: 'autoscale-run' },
    h('div', { class: 'muted small' }, `${label} at `, time(run.timestamp)),
    results.length ? h('ul', { class: 'results' }, results.map((r) => h('li', {}, h('code', {}, r)))) : null,
    run.error ? asError(run.error) : null);
}

function asError(e) {
  const details = [...(e.values ?? []), ...(e.details ?? [])];
  return h('div', { class: 'alert alert-error', 'data-code': e.code ?? '' },
    h('strong', { class: 'code' }, e.code ?? 'Error'), ' ', e.message ?? '',
    details.length ? h('ul', { class: 'values' }, details.map((d) => h('li', {}, h('code', {}, d.name ?? d.key ?? d.code ?? ''), ': ', h('code', {}, d.value ?? d.message ?? '')))) : null);
}
