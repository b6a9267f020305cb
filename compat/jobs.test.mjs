// Jobs (and tasks that never run: the pool has no nodes) through the official SDK.
import assert from "node:assert/strict";
import { describe, it, before, after } from "node:test";
import { newClient, uid, waitFor, listAll, assertSameIds, rejects } from "./helpers.mjs";

const client = newClient();
const prefix = uid("cjob");
const pool = `${prefix}-pool`;
const jobs = [];

async function addJob(id, extra = {}) {
  const res = await client.job.add({ id, poolInfo: { poolId: pool }, ...extra });
  jobs.push(id);
  return res;
}

describe("jobs", () => {
  before(async () => {
    await client.pool.add({ id: pool, vmSize: "standard_d2s_v3", targetDedicatedNodes: 0 });
  });

  after(async () => {
    for (const id of jobs) await client.job.deleteMethod(id).catch(() => {});
    await client.pool.deleteMethod(pool).catch(() => {});
  });

  it("add answers 201 and get returns what was added", async () => {
    const id = `${prefix}-main`;
    const res = await addJob(id, {
      displayName: "compat job",
      priority: 100,
      constraints: { maxWallClockTime: "PT2H", maxTaskRetryCount: 3 },
      metadata: [{ name: "k", value: "v" }],
    });
    assert.equal(res._response.status, 201);
    assert.match(res.eTag, /^0x[0-9A-F]+$/i);

    const j = await client.job.get(id);
    assert.equal(j.id, id);
    assert.equal(j.displayName, "compat job");
    assert.equal(j.state, "active");
    assert.equal(j.priority, 100);
    assert.equal(j.poolInfo.poolId, pool);
    assert.equal(j.constraints.maxWallClockTime, "PT2H");
    assert.equal(j.constraints.maxTaskRetryCount, 3);
    assert.deepEqual(j.metadata, [{ name: "k", value: "v" }]);
    assert.equal(j.onAllTasksComplete, "noaction");
    assert.equal(j.eTagHeader, j.eTag);
    assert.ok(j.url.endsWith(`/jobs/${id}`), j.url);

    const sel = await client.job.get(id, { jobGetOptions: { select: "id,state" } });
    assert.equal(sel.id, id);
    assert.equal(sel.priority, undefined);
  });

  it("errors carry Azure's codes: JobExists, JobNotFound", async () => {
    const id = `${prefix}-dup`;
    await addJob(id);
    await rejects(addJob(id), 409, "JobExists");
    await rejects(addJob(id.toUpperCase()), 409, "JobExists");
    const missing = `${prefix}-missing`;
    await rejects(client.job.get(missing), 404, "JobNotFound");
    await rejects(client.job.getTaskCounts(missing), 404, "JobNotFound");
    await rejects(client.job.terminate(missing), 404, "JobNotFound");
    await rejects(client.job.deleteMethod(missing), 404, "JobNotFound");
    await rejects(client.task.add(missing, { id: "t", commandLine: "true" }), 404, "JobNotFound");
    await rejects(client.task.list(missing), 404, "JobNotFound");
  });

  it("list with $filter and maxresults pages with listNext over every job once", async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(`${prefix}-list-${i}`);
    for (const id of ids) await addJob(id);

    const first = await client.job.list({
      jobListOptions: { filter: `startswith(id,'${prefix}-list-')`, maxResults: 2 },
    });
    assert.equal(first.length, 2);
    const { items, pages } = await listAll(first, (link) => client.job.listNext(link));
    assert.equal(pages, 3);
    assertSameIds(items.map((j) => j.id), ids, "pages of the filtered job list");

    const sel = await client.job.list({
      jobListOptions: { filter: `id eq '${ids[1]}' or id eq '${ids[4]}'`, select: "id" },
    });
    assertSameIds(sel.map((j) => j.id), [ids[1], ids[4]], "or filter");
    assert.ok(sel.every((j) => j.state === undefined), "$select id");
  });

  it("getTaskCounts counts tasks; task list pages with listNext over every task once", async () => {
    const id = `${prefix}-counts`;
    await addJob(id);
    const empty = await client.job.getTaskCounts(id);
    assert.deepEqual(
      { ...empty.taskCounts },
      { active: 0, running: 0, completed: 0, succeeded: 0, failed: 0 },
    );

    const taskIds = [];
    for (let i = 0; i < 10; i++) taskIds.push(`t-${String(i).padStart(2, "0")}`);
    const res = await client.task.addCollection(id, taskIds.map((t) => ({ id: t, commandLine: "/bin/true" })));
    assert.equal(res.value.length, 10);
    assert.ok(res.value.every((r) => r.status === "success"), JSON.stringify(res.value));

    const counts = await waitFor("10 active tasks counted", async () => {
      const c = await client.job.getTaskCounts(id);
      return c.taskCounts.active === 10 ? c : null;
    });
    assert.equal(counts.taskCounts.running, 0);
    assert.equal(counts.taskCounts.completed, 0);
    assert.equal(counts.taskSlotCounts.active, 10);

    // No node runs these tasks, so the list is stable while we page.
    const first = await client.task.list(id, { taskListOptions: { maxResults: 3 } });
    assert.equal(first.length, 3);
    const { items, pages } = await listAll(first, (link) => client.task.listNext(link));
    assert.equal(pages, 4);
    assertSameIds(items.map((t) => t.id), taskIds, "pages of the task list");
    assert.ok(items.every((t) => t.state === "active"));

    const filtered = await client.task.list(id, {
      taskListOptions: { filter: "id eq 't-03' or id eq 't-07'", maxResults: 1 },
    });
    const all = await listAll(filtered, (link) => client.task.listNext(link));
    assertSameIds(all.items.map((t) => t.id), ["t-03", "t-07"], "filtered, paged task list");
  });

  it("terminate with a reason completes the job and its tasks; a stale If-Match is refused", async () => {
    const id = `${prefix}-term`;
    await addJob(id);
    await client.task.add(id, { id: "never-runs", commandLine: "/bin/true" });
    const current = await client.job.get(id);

    await rejects(client.job.terminate(id, { jobTerminateOptions: { ifMatch: "0x8D0000000000001" } }),
      412, "ConditionNotMet");
    await rejects(client.job.terminate(id, { jobTerminateOptions: { ifNoneMatch: current.eTag } }),
      412, "ConditionNotMet");
    assert.equal((await client.job.get(id)).state, "active", "a refused terminate changes nothing");

    const res = await client.job.terminate(id, { terminateReason: "compat done", jobTerminateOptions: { ifMatch: current.eTag } });
    assert.equal(res._response.status, 202);
    const done = await waitFor("job completed", async () => {
      const j = await client.job.get(id);
      return j.state === "completed" ? j : null;
    });
    assert.notEqual(done.eTag, current.eTag);
    assert.equal(done.executionInfo.terminateReason, "compat done");
    assert.ok(done.executionInfo.endTime instanceof Date);

    const t = await client.task.get(id, "never-runs");
    assert.equal(t.state, "completed", "terminating a job completes its active tasks");
    await rejects(client.task.add(id, { id: "late", commandLine: "/bin/true" }), 409, "JobCompleted");
    await rejects(client.job.terminate(id), 409, "JobCompleted");
  });

  it("terminate without a reason records UserTerminate", async () => {
    const id = `${prefix}-term2`;
    await addJob(id);
    const res = await client.job.terminate(id);
    assert.equal(res._response.status, 202);
    const done = await waitFor("job completed", async () => {
      const j = await client.job.get(id);
      return j.state === "completed" ? j : null;
    });
    assert.equal(done.executionInfo.terminateReason, "UserTerminate");
  });

  it("delete answers 202 and the job goes away", async () => {
    const id = `${prefix}-del`;
    await addJob(id);
    await client.task.add(id, { id: "t", commandLine: "/bin/true" });
    const res = await client.job.deleteMethod(id);
    assert.equal(res._response.status, 202);
    await waitFor(`job ${id} gone`, async () => {
      try {
        await client.job.get(id);
        return false;
      } catch (e) {
        if (e.statusCode === 404 && e.code === "JobNotFound") return true;
        throw e;
      }
    });
    const listed = await client.job.list({ jobListOptions: { filter: `id eq '${id}'` } });
    assert.equal(listed.length, 0);
  });
});
