// Browser end-to-end test of the natch portal: Debian's Chromium, driven by
// playwright-core, against a real `natch up` started by e2e/portal_test.go,
// which passes NATCH_URL, NATCH_ACCOUNT, NATCH_KEY and SIGN_VECTOR (a
// string to sign computed by Go's shared/auth). Every API call the page
// makes is signed in the browser, so every step also checks the signing.
// Exits non-zero on the first failed step, with what it saw.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const URL_ = env('NATCH_URL').replace(/\/+$/, '');
const ACCOUNT = env('NATCH_ACCOUNT');
const KEY = env('NATCH_KEY');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');
const SCREENSHOT = process.env.SCREENSHOT ?? '';
const SIGN_VECTOR = JSON.parse(env('SIGN_VECTOR', 'null'));
const WAIT = 30_000; // UI states: a node starting, a task running

const t0 = Date.now();
const step = (msg) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);

const userDataDir = mkdtempSync(join(tmpdir(), 'natch-portal-chromium-'));
// A fresh profile (user data dir) per run: playwright passes it to Chromium
// as --user-data-dir.
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 900 },
  acceptDownloads: true,
  timeout: WAIT,
});
const problems = []; // page errors and CSP violations fail the test at the end
let page;
try {
  page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`console error: ${m.text()}`);
  });
  page.on('dialog', (d) => d.accept()); // confirm() of terminate / delete
  const nav = (name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
  let apiCalls = 0;
  page.on('request', (r) => {
    if (r.resourceType() !== 'fetch') return; // the page and its files
    apiCalls++;
    const u = new URL(r.url());
    const h = r.headers();
    if (!(h.authorization ?? '').startsWith(`SharedKey ${ACCOUNT}:`)) problems.push(`unsigned call ${r.method()} ${u.pathname}`);
    if (u.searchParams.get('api-version') !== '2022-10-01.16.0') problems.push(`no api-version: ${r.method()} ${u.pathname}`);
    if (h['if-none-match'] || h['if-modified-since']) problems.push(`a conditional header on ${r.method()} ${u.pathname}`);
  });

  step('a browser at the root is sent to the portal');
  const resp = await page.goto(URL_ + '/');
  assert.equal(new URL(page.url()).pathname, '/portal/');
  const headers = resp.headers();
  assert.match(headers['content-security-policy'] ?? '', /default-src 'self'/);
  assert.equal(headers['x-content-type-options'], 'nosniff');
  await page.getByRole('heading', { name: 'natch portal' }).waitFor();

  step('the JS signing matches Go\'s shared/auth, and the fallback HMAC matches WebCrypto');
  const got = await page.evaluate(async (v) => {
    const m = await import('./sign.js');
    const sts = m.stringToSign(v.method, v.headers, v.account, v.rawPath, v.search);
    const key = m.decodeKey(v.key);
    const viaSubtle = await m.newSigner(key)(sts);
    const viaJS = m.base64(m.hmacSHA256(key, new TextEncoder().encode(sts)));
    const long = 'x'.repeat(1000) + 'é€😀';
    const longSubtle = await m.newSigner(key)(long);
    const longJS = m.base64(m.hmacSHA256(key, new TextEncoder().encode(long)));
    return { sts, viaSubtle, viaJS, longSubtle, longJS };
  }, SIGN_VECTOR);
  assert.equal(got.sts, SIGN_VECTOR.stringToSign);
  assert.equal(got.viaSubtle, SIGN_VECTOR.signature);
  assert.equal(got.viaJS, SIGN_VECTOR.signature);
  assert.equal(got.longJS, got.longSubtle);

  step('a wrong key is refused with AuthenticationFailed and the page stays on sign-in');
  const wrongKey = Buffer.from(Array.from({ length: 64 }, (_, i) => i)).toString('base64');
  await page.getByLabel('Account name').fill(ACCOUNT);
  await page.getByLabel('Account key (base64)').fill(wrongKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const authErr = page.locator('.login .alert-error');
  await authErr.waitFor();
  assert.equal(await authErr.getAttribute('data-code'), 'AuthenticationFailed');
  assert.match(await authErr.innerText(), /AuthenticationErrorDetail/);
  assert.equal(await page.getByLabel('Account name').inputValue(), ACCOUNT, 'the form kept its input');
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);

  step('sign in with the right key');
  await page.getByLabel('Account key (base64)').fill(KEY);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
  assert.equal(await page.getByTestId('account').innerText(), ACCOUNT);
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  await page.locator('[data-testid=overview-pools] tr[data-id=spare]').waitFor();
  const stored = await page.evaluate(() => JSON.parse(sessionStorage.getItem('natch-portal-session')));
  assert.equal(stored.key, KEY);
  assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing in localStorage');

  step('create a pool of one node and see the node become idle');
  await nav('Pools').click();
  await page.waitForURL(/#\/pools$/);
  const poolForm = page.locator('form.create-pool');
  await poolForm.getByLabel('Pool id').fill('pool1');
  assert.equal(await poolForm.getByLabel('VM size').inputValue(), 'standard_d2s_v3');
  await poolForm.getByLabel('Target dedicated nodes').fill('1');
  await poolForm.getByLabel('Task slots per node').fill('2');
  await poolForm.getByRole('button', { name: 'Create pool' }).click();
  await page.waitForURL(/#\/pools\/pool1$/);
  await page.getByRole('heading', { name: 'Pool pool1' }).waitFor();
  await page.locator('[data-testid=nodes-table] tbody tr .badge[data-state=idle]').waitFor();
  assert.equal(await page.locator('[data-testid=nodes-table] tbody tr').count(), 1);
  await page.locator('[data-testid=pool-props] .badge[data-state=steady]').waitFor();

  step('create a job on the pool');
  await nav('Jobs').click();
  await page.waitForURL(/#\/jobs$/);
  const jobForm = page.locator('form.create-job');
  await jobForm.locator('select[name=poolId] option[value=pool1]').waitFor({ state: 'attached' });
  await jobForm.getByLabel('Job id').fill('job1');
  await jobForm.getByLabel('Pool').selectOption('pool1');
  await jobForm.getByLabel('Priority').fill('10');
  await jobForm.getByRole('button', { name: 'Create job' }).click();
  await page.waitForURL(/#\/jobs\/job1$/);
  await page.locator('[data-testid=job-state] .badge[data-state=active]').waitFor();
  await page.getByText('No tasks yet.').waitFor();

  step('an invalid task id shows the API error, keeps the input and creates nothing');
  const taskForm = page.locator('form.add-task');
  await taskForm.getByLabel('Task id').fill('bad id!');
  await taskForm.getByLabel('Command line').fill('/bin/sh -c "echo never"');
  await taskForm.getByRole('button', { name: 'Add task' }).click();
  const taskErr = taskForm.locator('.alert-error');
  await taskErr.waitFor();
  assert.equal(await taskErr.getAttribute('data-code'), 'InvalidPropertyValue');
  const errText = await taskErr.innerText();
  assert.match(errText, /PropertyName: id/);
  assert.equal(await taskForm.getByLabel('Task id').inputValue(), 'bad id!');
  assert.equal(await taskForm.getByLabel('Command line').inputValue(), '/bin/sh -c "echo never"');
  assert.equal(await page.locator('[data-testid=job-counts] [data-count=active]').innerText(), 'active 0');
  assert.equal(await page.locator('[data-testid=tasks-table] tbody tr').count(), 0);

  step('add a task; it completes with exit code 0');
  await taskForm.getByLabel('Task id').fill('t1');
  await taskForm.getByLabel('Command line').fill('/bin/sh -c "echo hello-portal"');
  await taskForm.getByRole('button', { name: 'Add task' }).click();
  await taskForm.locator('.alert-ok').waitFor();
  assert.equal(await taskForm.getByLabel('Task id').inputValue(), '', 'the form is reset after a success');
  const row = page.locator('[data-testid=tasks-table] tbody tr[data-id=t1]');
  await row.locator('.badge[data-state=completed]').waitFor();
  assert.equal(await row.locator('td').nth(2).innerText(), '0');
  await page.locator('[data-testid=job-counts] [data-count=succeeded]', { hasText: 'succeeded 1' }).waitFor();

  step('open the task and read hello-portal in its stdout');
  await row.getByRole('link', { name: 't1' }).click();
  await page.waitForURL(/#\/jobs\/job1\/tasks\/t1$/);
  await page.getByRole('heading', { name: 'Task t1' }).waitFor();
  assert.equal(await page.getByTestId('task-exit-code').innerText(), '0');
  await page.locator('pre[data-file="stdout.txt"]', { hasText: 'hello-portal' }).waitFor();
  await page.locator('[data-testid=files-table] tr[data-id="stdout.txt"]').waitFor();
  const download = page.waitForEvent('download');
  await page.locator('.file-view', { has: page.locator('pre[data-file="stdout.txt"]') }).getByRole('button', { name: 'Download' }).click();
  const dl = await download;
  assert.equal(dl.suggestedFilename(), 'stdout.txt');

  step('the back button returns to the job');
  await page.goBack();
  await page.waitForURL(/#\/jobs\/job1$/);
  await page.getByRole('heading', { name: 'Job job1' }).waitFor();

  step('evaluate an autoscale formula and resize the pool');
  await page.goto(`${URL_}/portal/#/pools/pool1`);
  await page.getByRole('heading', { name: 'Pool pool1' }).waitFor();
  const formula = page.getByLabel('Formula');
  await formula.fill('$TargetDedicatedNodes = 3;');
  await page.getByRole('button', { name: 'Evaluate' }).click();
  await page.getByTestId('autoscale-result').getByText('$TargetDedicatedNodes=3').waitFor();
  await formula.fill('$TargetDedicatedNodes = ;');
  await page.getByRole('button', { name: 'Evaluate' }).click();
  await page.locator('.autoscale .alert-error').waitFor();
  assert.ok(await page.locator('.autoscale .alert-error').getAttribute('data-code'));
  // The next auto-refresh (a read of the pool) must not wipe what the user typed.
  await page.waitForRequest((r) => r.method() === 'GET' && new URL(r.url()).pathname === '/pools/pool1', { timeout: 5000 });
  await page.waitForResponse((r) => r.request().method() === 'GET' && new URL(r.url()).pathname === '/pools/pool1/nodes', { timeout: 5000 });
  assert.equal(await formula.inputValue(), '$TargetDedicatedNodes = ;');
  const resize = page.locator('form.resize-pool');
  await resize.getByLabel('Target dedicated nodes').fill('2');
  await resize.getByRole('button', { name: 'Resize' }).click();
  await resize.locator('.alert-ok').waitFor();
  await page.getByTestId('pool-dedicated').filter({ hasText: '/ 2' }).waitFor();

  step('node operations: disable and enable scheduling, reboot one node, remove the other');
  const nodeRows = page.locator('[data-testid=nodes-table] tbody tr');
  await page.locator('[data-testid=nodes-table] tbody tr:has(.badge[data-state=idle])').nth(1).waitFor();
  assert.equal(await nodeRows.count(), 2);
  await page.getByTestId('pool-dedicated').filter({ hasText: '2 / 2' }).waitFor();
  const [nodeA, nodeB] = [await nodeRows.nth(0).getAttribute('data-id'), await nodeRows.nth(1).getAttribute('data-id')];
  assert.ok(nodeA && nodeB && nodeA !== nodeB, `node ids ${nodeA}, ${nodeB}`);
  const nodeRow = (nid) => page.locator(`[data-testid=nodes-table] tbody tr[data-id="${nid}"]`);
  const scheduling = (nid, state) => nodeRow(nid).locator('td:nth-child(3)', { hasText: new RegExp(`^${state}$`) });
  const rowA = nodeRow(nodeA);
  await scheduling(nodeA, 'enabled').waitFor();
  await rowA.getByRole('button', { name: 'Disable scheduling' }).click();
  await scheduling(nodeA, 'disabled').waitFor();
  await rowA.getByRole('button', { name: 'Enable scheduling' }).waitFor();
  assert.equal(await rowA.getByRole('button', { name: 'Disable scheduling' }).count(), 0);
  await rowA.getByRole('button', { name: 'Enable scheduling' }).click();
  await scheduling(nodeA, 'enabled').waitFor();
  // Reboot (after a confirm): natch shows rebooting at once (the 202 comes
  // after the node record says so), then idle once the agent is back.
  await rowA.getByRole('button', { name: 'Reboot' }).click();
  await rowA.locator('.badge[data-state=rebooting]').waitFor();
  // Rebooting again while it reboots (about a second) is Azure's 409,
  // shown in the page's alert with its code; should the node be back
  // already, that reboot is simply accepted.
  await rowA.getByRole('button', { name: 'Reboot' }).click();
  const nodeAlert = page.locator('.toolbar + .alerts .alert');
  await nodeAlert.waitFor();
  if (await nodeAlert.getAttribute('data-code')) {
    assert.equal(await nodeAlert.getAttribute('data-code'), 'NodeBeingRebooted');
    assert.match(await nodeAlert.innerText(), new RegExp(`NodeBeingRebooted The node ${nodeA} is being rebooted`));
  } else {
    step('(the node was back before the second reboot: no 409 to see)');
  }
  await rowA.locator('.badge[data-state=idle]').waitFor();
  // Remove (after a confirm): the node leaves and the target drops by one.
  await nodeRow(nodeB).getByRole('button', { name: 'Remove' }).click();
  await page.getByTestId('pool-dedicated').filter({ hasText: '/ 1' }).waitFor();
  await nodeRow(nodeB).waitFor({ state: 'detached' });
  await page.getByTestId('pool-dedicated').filter({ hasText: '1 / 1' }).waitFor();
  assert.equal(await nodeRows.count(), 1);
  assert.equal(await nodeRows.first().getAttribute('data-id'), nodeA);
  const nodeNotice = page.locator('.toolbar + .alerts .alert-ok');
  assert.match(await nodeNotice.innerText(), new RegExp(`Node ${nodeB}: removal requested`));
  assert.equal(await page.locator('.toolbar + .alerts .alert-error').count(), 0, 'no node action failed');

  step('terminate the job and see it complete');
  await page.goto(`${URL_}/portal/#/jobs/job1`);
  await page.locator('[data-testid=job-state] .badge[data-state=active]').waitFor();
  await page.getByRole('button', { name: 'Terminate' }).click();
  await page.locator('[data-testid=job-state] .badge[data-state=completed]').waitFor();
  if (SCREENSHOT) {
    await page.screenshot({ path: SCREENSHOT, fullPage: true, type: 'png' });
    step(`screenshot: ${SCREENSHOT} (${statSync(SCREENSHOT).size} bytes)`);
  }

  step('the jobs list filters by state');
  await nav('Jobs').click();
  await page.locator('[data-testid=jobs-table] tr[data-id=job1]').waitFor();
  await page.getByLabel('State filter').selectOption('active');
  await page.locator('[data-testid=jobs-table] tr[data-id=job1]').waitFor({ state: 'detached' });
  assert.equal(await page.locator('[data-testid=jobs-table] tbody tr').count(), 1);
  await page.locator('[data-testid=jobs-table] tr[data-id=many]').waitFor();
  await page.getByLabel('State filter').selectOption('completed');
  await page.locator('[data-testid=jobs-table] tr[data-id=many]').waitFor({ state: 'detached' });
  await page.locator('[data-testid=jobs-table] tr[data-id=job1]').waitFor();

  step('a job of 101 tasks shows 100, then all after "Load more", and keeps them on refresh');
  await page.getByLabel('State filter').selectOption('');
  await page.locator('[data-testid=jobs-table] tr[data-id=many]').getByRole('link', { name: 'many' }).click();
  await page.waitForURL(/#\/jobs\/many$/);
  const taskRows = page.locator('[data-testid=tasks-table] tbody tr');
  await taskRows.nth(99).waitFor();
  assert.equal(await taskRows.count(), 100);
  await page.getByRole('button', { name: 'Load more' }).click();
  await taskRows.nth(100).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Load more' }).isHidden(), true);
  // The next refresh reads both pages again (the second one by its $skiptoken).
  await page.waitForResponse((r) => new URL(r.url()).pathname === '/jobs/many/tasks' && new URL(r.url()).searchParams.has('$skiptoken'), { timeout: 5000 });
  await page.locator('[data-testid=job-counts] [data-count=active]', { hasText: 'active 101' }).waitFor();
  assert.equal(await taskRows.count(), 101);

  step('the overview shows the pool, its nodes and the job');
  await nav('Overview').click();
  await page.locator('[data-testid=overview-pools] tr[data-id=pool1]').waitFor();
  await page.locator('[data-testid=overview-newest] tr[data-id=job1] [data-count=succeeded]', { hasText: 'succeeded 1' }).waitFor();
  await page.locator('[data-testid=overview-job-states] .badge[data-state=completed]').waitFor();

  step('job schedules: disable and enable');
  await nav('Job schedules').click();
  const sched = page.locator('[data-testid=schedules-table] tr[data-id=nightly]');
  await sched.locator('.badge[data-state=active]').waitFor();
  assert.equal(await sched.locator('td').nth(2).innerText(), 'PT1H');
  await sched.getByRole('button', { name: 'Disable' }).click();
  await sched.locator('.badge[data-state=disabled]').waitFor();
  await sched.getByRole('button', { name: 'Enable' }).click();
  await sched.locator('.badge[data-state=active]').waitFor();

  step('applications list their versions');
  await nav('Applications').click();
  await page.locator('[data-testid=applications-table] tr[data-id=greeter] .chip', { hasText: '1.0' }).waitFor();

  step('sign out forgets the key');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);

  assert.ok(apiCalls > 10, `only ${apiCalls} API calls`);
  assert.deepEqual(problems, [], 'the page logged errors');
  step(`passed (${apiCalls} signed API calls)`);
} catch (err) {
  console.error(`FAILED: ${err.stack ?? err}`);
  if (problems.length) console.error(`page problems:\n  ${problems.join('\n  ')}`);
  if (page) {
    try {
      console.error(`at ${page.url()}; page text:\n${(await page.locator('body').innerText()).slice(0, 4000)}`);
    } catch {
      // the page is gone
    }
  }
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
