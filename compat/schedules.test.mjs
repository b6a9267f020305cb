// Job schedules, and job patch/update/listFromJobSchedule, through the
// official SDK. natch up runs with --min-recurrence 1s (compat_test.go), so
// that a schedule recurring every 2 s creates jobs while the test watches;
// the pool has no nodes, so the jobs' tasks never run (e2e/ runs them).
import assert from "node:assert/strict";
import { describe, it, before, after } from "node:test";
import { newClient, uid, waitFor, listAll, assertSameIds, rejects } from "./helpers.mjs";

const client = newClient();
const prefix = uid("csched");
const pool = `${prefix}-pool`;
const pool2 = `${prefix}-pool2`;
const schedules = [];

const hourly = { recurrenceInterval: "PT1H" };

async function addSchedule(id, extra = {}) {
  const res = await client.jobSchedule.add({
    id,
    schedule: hourly,
    jobSpecification: { poolInfo: { poolId: pool } },
    ...extra,
  });
  schedules.push(id);
  return res;
}

async function waitJob(id) {
  return waitFor(`job ${id} exists`, async () => {
    try {
      return await client.job.get(id);
    } catch (e) {
      if (e.statusCode === 404) return null;
      throw e;
    }
  });
}

describe("job schedules", () => {
  before(async () => {
    await client.pool.add({ id: pool, vmSize: "standard_d2s_v3", targetDedicatedNodes: 0 });
    await client.pool.add({ id: pool2, vmSize: "standard_d2s_v3", targetDedicatedNodes: 0 });
  });

  after(async () => {
    for (const id of schedules) await client.jobSchedule.deleteMethod(id).catch(() => {});
    await client.pool.deleteMethod(pool).catch(() => {});
    await client.pool.deleteMethod(pool2).catch(() => {});
  });

  it("add answers 201; get, $select and exists return it; its first job is created at once", async () => {
    const id = `${prefix}-main`;
    const res = await addSchedule(id, {
      displayName: "compat schedule",
      schedule: { doNotRunAfter: new Date(Date.now() + 7200e3), startWindow: "PT30M", recurrenceInterval: "PT1H" },
      jobSpecification: {
        priority: 10,
        onAllTasksComplete: "terminatejob",
        constraints: { maxTaskRetryCount: 2 },
        poolInfo: { poolId: pool },
        metadata: [{ name: "from", value: "spec" }],
      },
      metadata: [{ name: "m", value: "1" }],
    });
    assert.equal(res._response.status, 201);
    assert.match(res.eTag, /^0x[0-9A-F]+$/i);

    const s = await waitFor("the first job", async () => {
      const s = await client.jobSchedule.get(id);
      return s.executionInfo?.recentJob ? s : null;
    });
    assert.equal(s.id, id);
    assert.equal(s.displayName, "compat schedule");
    assert.equal(s.state, "active");
    assert.ok(s.stateTransitionTime instanceof Date);
    assert.equal(s.schedule.recurrenceInterval, "PT1H");
    assert.equal(s.schedule.startWindow, "PT30M");
    assert.equal(s.jobSpecification.priority, 10);
    assert.equal(s.jobSpecification.poolInfo.poolId, pool);
    assert.deepEqual(s.metadata, [{ name: "m", value: "1" }]);
    assert.ok(s.url.endsWith(`/jobschedules/${id}`), s.url);
    assert.equal(s.executionInfo.recentJob.id, `${id}:job-1`);
    assert.ok(s.executionInfo.recentJob.url.endsWith(`/jobs/${id}:job-1`), s.executionInfo.recentJob.url);
    const next = s.executionInfo.nextRunTime.getTime() - s.creationTime.getTime();
    assert.ok(Math.abs(next - 3600e3) < 5e3, `nextRunTime is an hour after creation: ${next} ms`);
    assert.equal(s.eTagHeader, s.eTag);

    const job = await client.job.get(`${id}:job-1`);
    assert.equal(job.state, "active");
    assert.equal(job.priority, 10);
    assert.equal(job.onAllTasksComplete, "terminatejob");
    assert.equal(job.constraints.maxTaskRetryCount, 2);
    assert.equal(job.executionInfo.poolId, pool);

    const sel = await client.jobSchedule.get(id, { jobScheduleGetOptions: { select: "id,state" } });
    assert.equal(sel.id, id);
    assert.equal(sel.schedule, undefined);
    assert.equal((await client.jobSchedule.exists(id)).body, true);
    assert.equal((await client.jobSchedule.exists(`${prefix}-missing`)).body, false);
  });

  it("errors carry Azure's codes and the offending property", async () => {
    const id = `${prefix}-dup`;
    await addSchedule(id);
    await rejects(addSchedule(id), 409, "JobScheduleExists");
    await rejects(addSchedule(id.toUpperCase()), 409, "JobScheduleExists");
    await rejects(client.job.add({ id, poolInfo: { poolId: pool } }), 409, "JobScheduleWithSameIdExists");
    const missing = `${prefix}-missing`;
    await rejects(client.jobSchedule.get(missing), 404, "JobScheduleNotFound");
    await rejects(client.jobSchedule.patch(missing, { metadata: [] }), 404, "JobScheduleNotFound");
    await rejects(client.jobSchedule.disable(missing), 404, "JobScheduleNotFound");
    await rejects(client.jobSchedule.terminate(missing), 404, "JobScheduleNotFound");
    await rejects(client.jobSchedule.deleteMethod(missing), 404, "JobScheduleNotFound");
    await rejects(client.job.listFromJobSchedule(missing), 404, "JobScheduleNotFound");

    let e = await rejects(client.jobSchedule.add({ id: `${prefix}-bad`, schedule: { recurrenceInterval: "PT0.5S" },
      jobSpecification: { poolInfo: { poolId: pool } } }), 400, "InvalidPropertyValue");
    assert.deepEqual(e.body.values[0], { key: "PropertyName", value: "schedule.recurrenceInterval" });
    // (The SDK itself refuses a missing poolInfo; an empty one reaches the service.)
    e = await rejects(client.jobSchedule.add({ id: `${prefix}-bad`, schedule: hourly, jobSpecification: { poolInfo: {} } }),
      400, "MissingRequiredProperty");
    assert.deepEqual(e.body.values[0], { key: "PropertyName", value: "jobSpecification.poolInfo" });
    e = await rejects(client.jobSchedule.add({ id: `${prefix}-bad`, schedule: hourly,
      jobSpecification: { priority: 5000, poolInfo: { poolId: pool } } }), 400, "InvalidPropertyValue");
    assert.deepEqual(e.body.values[0], { key: "PropertyName", value: "jobSpecification.priority" });
    assert.equal((await client.jobSchedule.exists(`${prefix}-bad`)).body, false, "a refused add creates nothing");
  });

  it("list with $filter and maxresults pages with listNext over every schedule once", async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(`${prefix}-list-${i}`);
    for (const id of ids) await addSchedule(id, { schedule: { doNotRunUntil: new Date(Date.now() + 3600e3) } });
    const first = await client.jobSchedule.list({
      jobScheduleListOptions: { filter: `startswith(id,'${prefix}-list-')`, maxResults: 2 },
    });
    assert.equal(first.length, 2);
    const { items, pages } = await listAll(first, (link) => client.jobSchedule.listNext(link));
    assert.ok(pages >= 3, `pages: ${pages}`);
    assertSameIds(items.map((s) => s.id), ids, "pages of the filtered schedule list");

    await client.jobSchedule.disable(ids[2]);
    const dis = await client.jobSchedule.list({
      jobScheduleListOptions: { filter: `startswith(id,'${prefix}-list-') and state eq 'disabled'`, select: "id,state" },
    });
    assert.deepEqual(dis.map((s) => [s.id, s.state]), [[ids[2], "disabled"]]);
  });

  it("patch (200) changes what it supplies; update (200) replaces; conditions apply", async () => {
    const id = `${prefix}-patch`;
    await addSchedule(id, { schedule: { doNotRunUntil: new Date(Date.now() + 3600e3) }, metadata: [{ name: "a", value: "1" }] });
    const before = await client.jobSchedule.get(id);
    await rejects(client.jobSchedule.patch(id, { metadata: [] }, { jobSchedulePatchOptions: { ifMatch: "0x8D0000000000001" } }),
      412, "ConditionNotMet");
    const p = await client.jobSchedule.patch(id, { metadata: [{ name: "b", value: "2" }] },
      { jobSchedulePatchOptions: { ifMatch: before.eTag } });
    assert.equal(p._response.status, 200);
    let s = await client.jobSchedule.get(id);
    assert.deepEqual(s.metadata, [{ name: "b", value: "2" }]);
    assert.equal(s.schedule.doNotRunUntil.getTime(), before.schedule.doNotRunUntil.getTime(), "patch keeps the schedule");
    assert.notEqual(s.eTag, before.eTag);

    let e;
    const u = await client.jobSchedule.update(id, {
      schedule: { recurrenceInterval: "PT2H", doNotRunUntil: new Date(Date.now() + 7200e3) },
      jobSpecification: { priority: 3, poolInfo: { poolId: pool2 } },
    });
    assert.equal(u._response.status, 200);
    s = await client.jobSchedule.get(id);
    assert.equal(s.schedule.recurrenceInterval, "PT2H");
    assert.equal(s.jobSpecification.priority, 3);
    assert.equal(s.jobSpecification.poolInfo.poolId, pool2);
    assert.equal(s.metadata, undefined, "update clears omitted metadata");
    assert.equal(s.executionInfo.nextRunTime.getTime(), s.schedule.doNotRunUntil.getTime());
    e = await rejects(client.jobSchedule.update(id, { schedule: { recurrenceInterval: "PT0S" }, jobSpecification: { poolInfo: { poolId: pool } } }),
      400, "InvalidPropertyValue");
    assert.deepEqual(e.body.values[0], { key: "PropertyName", value: "schedule.recurrenceInterval" });
  });

  it("disable (204) and enable (204) change the state", async () => {
    const id = `${prefix}-toggle`;
    await addSchedule(id, { schedule: { doNotRunUntil: new Date(Date.now() + 3600e3) } });
    const d = await client.jobSchedule.disable(id);
    assert.equal(d._response.status, 204);
    let s = await client.jobSchedule.get(id);
    assert.equal(s.state, "disabled");
    assert.equal(s.previousState, "active");
    const e = await client.jobSchedule.enable(id);
    assert.equal(e._response.status, 204);
    s = await client.jobSchedule.get(id);
    assert.equal(s.state, "active");
    assert.equal(s.previousState, "disabled");
  });

  it("a recurring schedule creates one job per recurrence; listFromJobSchedule pages over them", async () => {
    const id = `${prefix}-rec`;
    await addSchedule(id, { schedule: { recurrenceInterval: "PT2S" } });
    const j1 = await waitJob(`${id}:job-1`);
    assert.equal(j1.state, "active");
    const only = await client.job.listFromJobSchedule(id);
    assert.deepEqual(only.map((j) => j.id), [`${id}:job-1`]);
    await new Promise((r) => setTimeout(r, 2500));
    const still = await client.job.listFromJobSchedule(id);
    assert.equal(still.length, 1, "the next recurrence waits while job-1 is active");

    await client.job.terminate(`${id}:job-1`);
    const j2 = await waitJob(`${id}:job-2`);
    assert.equal(j2.state, "active");
    const first = await client.job.listFromJobSchedule(id, { jobListFromJobScheduleOptions: { maxResults: 1 } });
    assert.equal(first.length, 1);
    const { items, pages } = await listAll(first, (link) => client.job.listFromJobScheduleNext(link));
    assert.equal(pages, 2);
    assertSameIds(items.map((j) => j.id), [`${id}:job-1`, `${id}:job-2`], "pages of the schedule's jobs");
    const done = await client.job.listFromJobSchedule(id, { jobListFromJobScheduleOptions: { filter: "state eq 'completed'" } });
    assert.deepEqual(done.map((j) => j.id), [`${id}:job-1`]);

    // terminate (202): the active job is terminated, the schedule completes.
    const t = await client.jobSchedule.terminate(id);
    assert.equal(t._response.status, 202);
    const s = await waitFor("schedule completed", async () => {
      const s = await client.jobSchedule.get(id);
      return s.state === "completed" ? s : null;
    });
    assert.ok(s.executionInfo.endTime instanceof Date);
    const j = await client.job.get(`${id}:job-2`);
    assert.equal(j.state, "completed");
    assert.equal(j.executionInfo.terminateReason, "TerminateJobSchedule");
    await rejects(client.jobSchedule.terminate(id), 409, "JobScheduleCompleted");
    await rejects(client.jobSchedule.enable(id), 409, "JobScheduleCompleted");

    // deleteMethod (202): the schedule and its jobs go away.
    const del = await client.jobSchedule.deleteMethod(id);
    assert.equal(del._response.status, 202);
    await waitFor("schedule gone", async () => (await client.jobSchedule.exists(id)).body === false);
    await rejects(client.job.get(`${id}:job-1`), 404, "JobNotFound");
    await rejects(client.job.get(`${id}:job-2`), 404, "JobNotFound");
  });

  it("job patch (200) and update (200); the pool changes only while the job is disabled", async () => {
    const id = `${prefix}-jobpatch`;
    await client.job.add({ id, poolInfo: { poolId: pool }, priority: 5, metadata: [{ name: "k", value: "v" }] });
    try {
      const before = await client.job.get(id);
      const p = await client.job.patch(id, {
        priority: 100,
        maxParallelTasks: 4,
        constraints: { maxTaskRetryCount: 3 },
        onAllTasksComplete: "terminatejob",
      });
      assert.equal(p._response.status, 200);
      let j = await client.job.get(id);
      assert.equal(j.priority, 100);
      assert.equal(j.maxParallelTasks, 4);
      assert.equal(j.constraints.maxTaskRetryCount, 3);
      assert.equal(j.onAllTasksComplete, "terminatejob");
      assert.deepEqual(j.metadata, [{ name: "k", value: "v" }], "patch keeps what it does not supply");
      assert.notEqual(j.eTag, before.eTag);

      let e = await rejects(client.job.patch(id, { poolInfo: { poolId: pool2 } }), 409);
      assert.deepEqual(e.body.values[0], { key: "PropertyName", value: "poolInfo" });
      e = await rejects(client.job.patch(id, { onAllTasksComplete: "noaction" }), 400, "InvalidPropertyValue");
      assert.deepEqual(e.body.values[0], { key: "PropertyName", value: "onAllTasksComplete" });
      await rejects(client.job.patch(id, { priority: 1 }, { jobPatchOptions: { ifMatch: before.eTag } }), 412, "ConditionNotMet");
      await rejects(client.job.patch(`${prefix}-nope`, { priority: 1 }), 404, "JobNotFound");

      await client.job.disable(id, "requeue");
      await client.job.patch(id, { poolInfo: { poolId: pool2 } });
      j = await client.job.get(id);
      assert.equal(j.poolInfo.poolId, pool2);
      assert.equal(j.executionInfo.poolId, pool2);

      const u = await client.job.update(id, { poolInfo: { poolId: pool2 }, onAllTasksComplete: "terminatejob", metadata: [{ name: "n", value: "2" }] });
      assert.equal(u._response.status, 200);
      j = await client.job.get(id);
      assert.equal(j.priority, 0, "update resets an omitted priority");
      assert.equal(j.maxParallelTasks, -1);
      assert.equal(j.constraints.maxTaskRetryCount, 0);
      assert.deepEqual(j.metadata, [{ name: "n", value: "2" }]);
      e = await rejects(client.job.update(id, { poolInfo: {} }), 400, "MissingRequiredProperty");
      assert.deepEqual(e.body.values[0], { key: "PropertyName", value: "poolInfo.poolId" });
    } finally {
      await client.job.deleteMethod(id).catch(() => {});
    }
  });

  it("auto pools: a job's pool is created with it and deleted when it completes; a schedule's is shared", async () => {
    const id = `${prefix}-auto`;
    const autoPool = (lifetime) => ({
      autoPoolSpecification: {
        autoPoolIdPrefix: "cap",
        poolLifetimeOption: lifetime,
        pool: { vmSize: "standard_d2s_v3", targetDedicatedNodes: 0, metadata: [{ name: "auto", value: "1" }] },
      },
    });
    const res = await client.job.add({ id, poolInfo: autoPool("job") });
    assert.equal(res._response.status, 201);
    const j = await client.job.get(id);
    assert.match(j.executionInfo.poolId, /^cap_[0-9A-F]{32}$/);
    assert.equal(j.poolInfo.autoPoolSpecification.poolLifetimeOption, "job");
    const p = await client.pool.get(j.executionInfo.poolId);
    assert.deepEqual(p.metadata, [{ name: "auto", value: "1" }]);
    const e = await rejects(client.job.add({ id: `${id}-bad`, poolInfo: autoPool("jobschedule") }), 400, "InvalidPropertyValue");
    assert.deepEqual(e.body.values[0], { key: "PropertyName", value: "poolInfo.autoPoolSpecification.poolLifetimeOption" });
    await client.job.terminate(id);
    await waitFor("the auto pool goes with its job", async () => (await client.pool.exists(j.executionInfo.poolId)).body === false);
    await client.job.deleteMethod(id);

    const sid = `${prefix}-autosched`;
    await addSchedule(sid, { schedule: { recurrenceInterval: "PT2S" }, jobSpecification: { poolInfo: autoPool("jobschedule") } });
    const j1 = await waitJob(`${sid}:job-1`);
    await client.job.terminate(j1.id);
    const j2 = await waitJob(`${sid}:job-2`);
    assert.equal(j2.executionInfo.poolId, j1.executionInfo.poolId, "one pool for all the schedule's jobs");
    assert.equal((await client.pool.exists(j1.executionInfo.poolId)).body, true);
    await client.jobSchedule.terminate(sid);
    await waitFor("the shared pool goes with the schedule", async () => (await client.pool.exists(j1.executionInfo.poolId)).body === false);
  });
});
