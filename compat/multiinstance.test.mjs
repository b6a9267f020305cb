// Multi-instance (MPI-style) tasks through the official SDK: task.add with
// multiInstanceSettings, the task's result, and task.listSubtasks.
import assert from "node:assert/strict";
import { describe, it, before, after } from "node:test";
import { newClient, uid, waitFor, rejects, waitIdleNodes, waitTaskCompleted } from "./helpers.mjs";

const client = newClient();
const prefix = uid("cmi");
const pool = `${prefix}-pool`;
const plainPool = `${prefix}-plain`;
const job = `${prefix}-job`;
const plainJob = `${prefix}-plainjob`;

describe("multi-instance tasks", () => {
  let nodeIds;

  before(async () => {
    await client.pool.add({ id: pool, vmSize: "standard_d2s_v3", targetDedicatedNodes: 2, enableInterNodeCommunication: true });
    await client.pool.add({ id: plainPool, vmSize: "standard_d2s_v3" });
    await client.job.add({ id: job, poolInfo: { poolId: pool } });
    await client.job.add({ id: plainJob, poolInfo: { poolId: plainPool } });
    nodeIds = (await waitIdleNodes(client, pool, 2, 30000)).map((n) => n.id);
  });

  after(async () => {
    for (const j of [job, plainJob]) await client.job.deleteMethod(j).catch(() => {});
    for (const p of [pool, plainPool]) await client.pool.deleteMethod(p).catch(() => {});
  });

  it("a pool without inter-node communication rejects one", async () => {
    const err = await rejects(client.task.add(plainJob, {
      id: "mi", commandLine: "true",
      multiInstanceSettings: { numberOfInstances: 2, coordinationCommandLine: "true" },
    }), 400, "InvalidPropertyValue");
    assert.ok(err.body?.values?.some((v) => v.key === "PropertyName" && v.value === "multiInstanceSettings"),
      JSON.stringify(err.body));
  });

  it("runs on two nodes; listSubtasks shows the subtask completed on the other one", async () => {
    const res = await client.task.add(job, {
      id: "mi",
      commandLine: "/bin/sh -c 'test \"$AZ_BATCH_IS_CURRENT_NODE_MASTER\" = true && echo \"$AZ_BATCH_HOST_LIST\"'",
      multiInstanceSettings: {
        numberOfInstances: 2,
        coordinationCommandLine: "/bin/sh -c 'test -n \"$AZ_BATCH_MASTER_NODE\"'",
      },
    });
    assert.equal(res._response.status, 201);

    const t = await waitTaskCompleted(client, job, "mi", 30000);
    assert.equal(t.executionInfo.result, "success", JSON.stringify(t.executionInfo));
    assert.equal(t.executionInfo.exitCode, 0);
    assert.deepEqual(t.multiInstanceSettings, {
      numberOfInstances: 2,
      coordinationCommandLine: "/bin/sh -c 'test -n \"$AZ_BATCH_MASTER_NODE\"'",
    });
    assert.ok(nodeIds.includes(t.nodeInfo.nodeId));

    const subs = await waitFor("the subtask completed", async () => {
      const r = await client.task.listSubtasks(job, "mi");
      return r.value?.length === 1 && r.value[0].state === "completed" ? r.value : null;
    });
    const [s] = subs;
    assert.equal(s.id, 1);
    assert.equal(s.result, "success");
    assert.equal(s.exitCode, 0);
    assert.equal(s.previousState, "running");
    assert.ok(s.startTime instanceof Date && s.endTime instanceof Date && s.startTime <= s.endTime);
    assert.ok(s.stateTransitionTime instanceof Date);
    assert.equal(s.nodeInfo.poolId, pool);
    assert.ok(nodeIds.includes(s.nodeInfo.nodeId));
    assert.notEqual(s.nodeInfo.nodeId, t.nodeInfo.nodeId, "the subtask ran on the other node");
  });

  it("listSubtasks of a task that is not multi-instance is empty", async () => {
    await client.task.add(job, { id: "single", commandLine: "true" });
    const r = await client.task.listSubtasks(job, "single");
    assert.deepEqual(r.value, []);
    await rejects(client.task.listSubtasks(job, "nosuchtask"), 404, "TaskNotFound");
  });
});
