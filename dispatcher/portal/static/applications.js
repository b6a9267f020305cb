// Applications: the account's application packages and their versions.
import { h, table, replace, dash } from './ui.js';

/** applicationsList lists the applications with their versions. */
export function applicationsList(ctx) {
  const list = h('div');
  const el = h('div', {}, h('h1', {}, 'Applications'),
    h('p', { class: 'muted' }, 'Application packages are published with ',
      h('code', {}, 'natch app-package publish'), ' (see docs/applications.md); pools and tasks reference them by id and version.'),
    list);
  async function refresh() {
    const r = await ctx.client.list('/applications', {}, 10);
    replace(list, table([
      { title: 'Application', cell: (a) => h('code', {}, a.id) },
      { title: 'Display name', cell: (a) => dash(a.displayName) },
      { title: 'Versions', cell: (a) => (a.versions?.length ? h('span', {}, a.versions.map((v) => h('span', { class: 'chip' }, v))) : '—') },
    ], r.items, 'No applications.', { 'data-testid': 'applications-table' }));
  }
  return { el, refresh, title: 'Applications' };
}
