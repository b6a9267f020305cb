// Changing what exists: task reactivate/update, job disable/enable and pool
// patch/updateProperties, through the official SDK on a pool with a real node.
import assert from "node:assert/strict";
import { describe, it, before, after } from "node:test";
import { newClient, uid, waitFor, rejects, waitIdleNodes, waitTaskCompleted } from "./helpers.mjs";

const client = newClient();
const prefix = uid("cctl");
const pool = `${prefix}-pool`;
const bare = `${prefix}-bare`;
const job = `${prefix}-job`;
const held = `${prefix}-held`;

const waitState = (jobId, taskId, state) =>
  waitFor(`${taskId} ${state}`, async () => {
    const t = await client.task.get(jobId, taskId);
    return t.state === state && t;
  });

describe("task reactivate/update, job disable/enable, pool patch/updateProperties", () => {
  before(async () => {
    await client.pool.add({ id: pool, vmSize: "standard_d2s_v3", targetDedicatedNodes: 1, taskSlotsPerNode: 4 });
    await client.pool.add({ id: bare, vmSize: "standard_d2s_v3", metadata: [{ name: "a", value: "1" }] });
    await waitIdleNodes(client, pool, 1);
    await client.job.add({ id: job, poolInfo: { poolId: pool } });
    await client.job.add({ id: held, poolInfo: { poolId: pool } });
  });

  after(async () => {
    for (const j of [job, held]) await client.job.deleteMethod(j).catch(() => {});
    for (const p of [pool, bare]) await client.pool.deleteMethod(p).catch(() => {});
  });

  it("reactivate (204) runs a failed task again with its retry count reset; others get 409", async () => {
    await client.task.add(job, { id: "fails", commandLine: "/bin/sh -c 'exit 3'", constraints: { maxTaskRetryCount: 1 } });
    const first = await waitTaskCompleted(client, job, "fails");
    assert.equal(first.executionInfo.result, "failure");
    assert.equal(first.executionInfo.retryCount, 1);

    const res = await client.task.reactivate(job, "fails");
    assert.equal(res._response.status, 204);
    const again = await waitFor("the reactivated task to run and fail again", async () => {
      const t = await client.task.get(job, "fails");
      return t.state === "completed" && t.executionInfo.startTime > first.executionInfo.endTime && t;
    });
    assert.equal(again.executionInfo.exitCode, 3);
    assert.equal(again.executionInfo.result, "failure");
    assert.equal(again.executionInfo.retryCount, 1, "the retry count restarts from 0");

    await client.task.add(job, { id: "ok", commandLine: "true" });
    await waitTaskCompleted(client, job, "ok");
    await rejects(client.task.reactivate(job, "ok"), 409, "TaskSucceeded");
    await client.task.add(job, { id: "long", commandLine: "sleep 30" });
    await rejects(client.task.reactivate(job, "long"), 409, "TaskNotCompleted");
    await client.task.terminate(job, "long");
    await rejects(client.task.reactivate(job, "no-such-task"), 404, "TaskNotFound");
  });

  it("update (200) replaces a task's constraints", async () => {
    const res = await client.task.update(job, "ok", { constraints: { maxTaskRetryCount: 2, retentionTime: "PT1H" } });
    assert.equal(res._response.status, 200);
    assert.match(res.eTag, /^0x[0-9A-F]+$/i);
    const t = await client.task.get(job, "ok");
    assert.equal(t.eTag, res.eTag);
    assert.equal(t.constraints.maxTaskRetryCount, 2);
    assert.equal(t.constraints.retentionTime, "PT1H");
    await rejects(client.task.update(job, "ok", { constraints: { maxTaskRetryCount: -2 } }), 400, "InvalidPropertyValue");
  });

  it("disable (202) holds a job's tasks, requeueing running ones; enable (202) runs them", async () => {
    await client.task.add(held, { id: "running", commandLine: "sleep 30" });
    await waitState(held, "running", "running");

    const res = await client.job.disable(held, "requeue");
    assert.equal(res._response.status, 202);
    const j = await client.job.get(held);
    assert.equal(j.state, "disabled");
    assert.equal(j.previousState, "active");
    assert.equal((await client.task.get(held, "running")).state, "active");
    await rejects(client.job.disable(held, "wait"), 409, "JobDisabled");

    await client.task.add(held, { id: "later", commandLine: "true" });
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await client.task.get(held, "later")).state, "active", "a disabled job's tasks do not run");

    const en = await client.job.enable(held);
    assert.equal(en._response.status, 202);
    assert.equal((await client.job.get(held)).state, "active");
    const later = await waitTaskCompleted(client, held, "later");
    assert.equal(later.executionInfo.result, "success");
    await waitState(held, "running", "running");
    await rejects(client.job.enable(held), 409, "JobNotDisabled");

    await client.job.disable(held, "terminate");
    const ended = await client.task.get(held, "running");
    assert.equal(ended.state, "completed");
    assert.equal(ended.executionInfo.failureInfo.code, "TaskEnded");
    await client.job.enable(held);
  });

  it("patch (200) changes only what it supplies; updateProperties (204) replaces everything", async () => {
    const p = await client.pool.patch(bare, { startTask: { commandLine: "echo hi" } });
    assert.equal(p._response.status, 200);
    let got = await client.pool.get(bare);
    assert.equal(got.startTask.commandLine, "echo hi");
    assert.deepEqual(got.metadata, [{ name: "a", value: "1" }]);
    assert.equal(got.eTag, p.eTag);

    const u = await client.pool.updateProperties(bare, {
      certificateReferences: [], applicationPackageReferences: [], metadata: [{ name: "b", value: "2" }],
    });
    assert.equal(u._response.status, 204);
    got = await client.pool.get(bare);
    assert.equal(got.startTask, undefined);
    assert.deepEqual(got.metadata, [{ name: "b", value: "2" }]);
    await rejects(client.pool.patch(`${prefix}-nope`, { metadata: [] }), 404, "PoolNotFound");
  });
});
