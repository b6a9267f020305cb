// The portal's entry point: the session (kept in sessionStorage), the
// sign-in form, the navigation and the hash router with its 2 s refresh.
import { Client } from './api.js';
import { h, alertBox, field, showError, clear, route } from './ui.js';
import { overview } from './overview.js';
import { poolsList, poolDetail } from './pools.js';
import { jobsList, jobDetail } from './jobs.js';
import { taskDetail } from './tasks.js';
import { schedulesList } from './schedules.js';
import { applicationsList } from './applications.js';

const SESSION_KEY = 'natch-portal-session';
const REFRESH_MS = 2000;

/** routes maps hash paths to views; a view is (ctx, ...params) => {el, refresh, title}. */
const routes = [
  { match: [], view: overview, nav: 'overview' },
  { match: ['overview'], view: overview, nav: 'overview' },
  { match: ['pools'], view: poolsList, nav: 'pools' },
  { match: ['pools', ':'], view: poolDetail, nav: 'pools' },
  { match: ['jobs'], view: jobsList, nav: 'jobs' },
  { match: ['jobs', ':'], view: jobDetail, nav: 'jobs' },
  { match: ['jobs', ':', 'tasks', ':'], view: taskDetail, nav: 'jobs' },
  { match: ['schedules'], view: schedulesList, nav: 'schedules' },
  { match: ['applications'], view: applicationsList, nav: 'applications' },
];

const navItems = [
  ['overview', 'Overview'], ['pools', 'Pools'], ['jobs', 'Jobs'],
  ['schedules', 'Job schedules'], ['applications', 'Applications'],
];

function loadSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null');
    return s && s.account && s.key && s.url ? s : null;
  } catch {
    return null;
  }
}

const root = document.getElementById('app');
let current = null; // {view, gen}
let generation = 0;

function start() {
  const s = loadSession();
  if (!s) {
    showLogin();
    return;
  }
  let client;
  try {
    client = new Client(s);
  } catch {
    sessionStorage.removeItem(SESSION_KEY);
    showLogin();
    return;
  }
  showApp(client, s);
}

function showLogin(prefill = {}) {
  generation += 1;
  if (current) clearTimeout(current.timer);
  current = null;
  window.onhashchange = null;
  document.title = 'Sign in · natch portal';
  const box = alertBox();
  const account = h('input', { name: 'account', required: true, autocomplete: 'username', value: prefill.account ?? 'natch' });
  const key = h('input', { name: 'key', type: 'password', required: true, autocomplete: 'current-password', spellcheck: 'false' });
  const url = h('input', { name: 'url', type: 'url', placeholder: location.origin, value: prefill.url ?? '' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const f = h('form', { class: 'card login', 'aria-label': 'Sign in', novalidate: true },
    h('h1', {}, 'natch portal'),
    h('p', { class: 'muted' }, 'Sign in with your Batch account name and one of its keys (natch up prints them).'),
    field('Account name', account),
    field('Account key (base64)', key, 'Kept in this tab only (sessionStorage) and used to sign each request in the browser; never sent.'),
    field('API URL (optional)', url, `Default: ${location.origin}`),
    h('div', { class: 'actions' }, button),
    box);
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(box);
    const s = { account: account.value.trim(), key: key.value.trim(), url: url.value.trim() || location.origin };
    button.disabled = true;
    try {
      const client = new Client(s);
      await client.get('/pools', { maxresults: 1, $select: 'id' }); // proves the key
      sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
      showApp(client, s);
    } catch (err) {
      showError(box, err);
    } finally {
      button.disabled = false;
    }
  });
  root.replaceChildren(h('main', { class: 'login-page' }, f));
  account.focus();
}

function signOut() {
  sessionStorage.removeItem(SESSION_KEY);
  showLogin();
}

function showApp(client, s) {
  const nav = h('nav', { class: 'nav', 'aria-label': 'Main' },
    h('div', { class: 'brand' }, 'natch'),
    h('ul', {}, navItems.map(([id, label]) => h('li', {}, h('a', { href: route(id), 'data-nav': id }, label)))),
    h('div', { class: 'who' },
      h('div', { class: 'muted small' }, 'Account'),
      h('div', { class: 'account', 'data-testid': 'account' }, s.account),
      h('div', { class: 'muted small' }, new URL(s.url).host),
      h('button', { type: 'button', class: 'link', onclick: signOut }, 'Sign out')));
  const viewAlert = alertBox();
  viewAlert.classList.add('view-alert');
  const main = h('main', { class: 'content', id: 'main' });
  root.replaceChildren(h('div', { class: 'layout' }, nav, h('div', { class: 'page' }, viewAlert, main)));
  const ctx = {
    client,
    go: (hash) => { location.hash = hash; },
    kick: () => { if (current) tick(current.gen); }, // refresh now (after a filter or "load more")
  };
  const render = () => {
    generation += 1;
    const gen = generation;
    if (current) clearTimeout(current.timer);
    const segs = location.hash.replace(/^#\/?/, '').split('/').filter((x) => x !== '').map(safeDecode);
    const r = routes.find((rt) => rt.match.length === segs.length && rt.match.every((m, i) => m === ':' || m === segs[i]));
    clear(viewAlert);
    for (const a of nav.querySelectorAll('a[data-nav]')) {
      a.classList.toggle('active', r?.nav === a.dataset.nav);
      if (r?.nav === a.dataset.nav) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    if (!r) {
      document.title = 'Not found · natch portal';
      main.replaceChildren(h('h1', {}, 'Not found'), h('p', {}, 'No page at ', h('code', {}, location.hash), '. ', h('a', { href: route('overview') }, 'Overview')));
      current = null;
      return;
    }
    const params = segs.filter((_, i) => r.match[i] === ':');
    const view = r.view(ctx, ...params);
    document.title = `${view.title} · natch portal`;
    main.replaceChildren(view.el);
    window.scrollTo(0, 0);
    current = { view, gen };
    tick(gen);
  };
  const tick = async (gen) => {
    if (!current || current.gen !== gen) return;
    const cur = current;
    if (cur.busy) {
      cur.again = true; // refresh once more when the one under way ends
      return;
    }
    if (document.visibilityState === 'visible') {
      cur.busy = true;
      do {
        cur.again = false;
        try {
          await cur.view.refresh();
          if (current === cur) clear(viewAlert);
        } catch (err) {
          if (current === cur) showError(viewAlert, err);
        }
      } while (cur.again && current === cur);
      cur.busy = false;
    }
    if (current?.gen !== gen) return;
    clearTimeout(current.timer);
    current.timer = setTimeout(() => tick(gen), REFRESH_MS);
  };
  window.onhashchange = render;
  document.onvisibilitychange = () => {
    if (document.visibilityState === 'visible' && current) tick(current.gen);
  };
  render();
}

function safeDecode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

start();
