// Start task, job preparation and release tasks through the official SDK:
// computeNode.get startTaskInfo, job.listPreparationAndReleaseTaskStatus.
import assert from "node:assert/strict";
import { describe, it, before, after } from "node:test";
import { newClient, uid, waitFor, waitIdleNodes, waitTaskCompleted, rejects, listAll } from "./helpers.mjs";

const client = newClient();
const prefix = uid("cprep");
const pool = `${prefix}-pool`;

describe("start task, job preparation and release tasks", () => {
  let node;
  before(async () => {
    await client.pool.add({
      id: pool,
      vmSize: "standard_d2s_v3",
      targetDedicatedNodes: 1,
      startTask: {
        commandLine: `/bin/sh -c 'echo "$WORD" > "$AZ_BATCH_NODE_SHARED_DIR/${prefix}"'`,
        environmentSettings: [{ name: "WORD", value: "started" }],
        maxTaskRetryCount: 1,
        waitForSuccess: true,
      },
    });
    [node] = await waitIdleNodes(client, pool, 1);
  });
  after(async () => {
    await client.pool.deleteMethod(pool).catch(() => {});
  });

  it("computeNode.get shows the start task and its startTaskInfo", async () => {
    const n = await client.computeNode.get(pool, node.id);
    assert.equal(n.state, "idle");
    assert.match(n.startTask.commandLine, /AZ_BATCH_NODE_SHARED_DIR/);
    assert.equal(n.startTask.maxTaskRetryCount, 1);
    const info = n.startTaskInfo;
    assert.equal(info.state, "completed");
    assert.equal(info.result, "success");
    assert.equal(info.exitCode, 0);
    assert.equal(info.retryCount, 0);
    assert.ok(info.startTime instanceof Date, "startTime is a date");
    assert.ok(info.endTime >= info.startTime);
    const [listed] = await client.computeNode.list(pool, { computeNodeListOptions: { filter: "startTaskInfo/result eq 'success'" } });
    assert.equal(listed?.id, node.id);
  });

  it("job.listPreparationAndReleaseTaskStatus follows the preparation and the release", async () => {
    const job = `${prefix}-job`;
    await client.job.add({
      id: job,
      poolInfo: { poolId: pool },
      jobPreparationTask: { id: "setup", commandLine: "/bin/sh -c 'echo prepared > ready'" },
      jobReleaseTask: { commandLine: "/bin/sh -c 'echo released'" },
    });
    const j = await client.job.get(job);
    assert.equal(j.jobPreparationTask.id, "setup");
    assert.equal(j.jobPreparationTask.waitForSuccess, true);
    assert.equal(j.jobPreparationTask.rerunOnNodeRebootAfterSuccess, true);
    assert.equal(j.jobReleaseTask.id, "jobrelease");
    assert.equal(j.jobReleaseTask.maxWallClockTime, "PT15M");
    await rejects(client.task.add(job, { id: "setup", commandLine: "true" }), 409, "TaskIdSameAsJobPreparationTask");

    await client.task.add(job, {
      id: "t1",
      commandLine: `/bin/sh -c 'cat "$AZ_BATCH_NODE_SHARED_DIR/${prefix}" "$AZ_BATCH_JOB_PREP_WORKING_DIR/ready"'`,
    });
    const t = await waitTaskCompleted(client, job, "t1");
    assert.equal(t.executionInfo.exitCode, 0, JSON.stringify(t.executionInfo));

    const first = await client.job.listPreparationAndReleaseTaskStatus(job);
    const { items } = await listAll(first, (link) => client.job.listPreparationAndReleaseTaskStatusNext(link));
    assert.equal(items.length, 1);
    const st = items[0];
    assert.equal(st.poolId, pool);
    assert.equal(st.nodeId, node.id);
    assert.match(st.nodeUrl, new RegExp(`/pools/${pool}/nodes/${node.id}$`));
    const prep = st.jobPreparationTaskExecutionInfo;
    assert.equal(prep.state, "completed");
    assert.equal(prep.result, "success");
    assert.equal(prep.exitCode, 0);
    assert.equal(prep.retryCount, 0);
    assert.ok(prep.startTime instanceof Date);
    assert.match(prep.taskRootDirectory, /setup$/);
    assert.match(prep.taskRootDirectoryUrl, /\/files\/workitems\/.+\/job-1\/setup$/);
    assert.equal(st.jobReleaseTaskExecutionInfo, undefined);

    const filtered = await client.job.listPreparationAndReleaseTaskStatus(job, {
      jobListPreparationAndReleaseTaskStatusOptions: { filter: "nodeId eq 'nosuchnode'" },
    });
    assert.equal(filtered.length, 0);
    const selected = await client.job.listPreparationAndReleaseTaskStatus(job, {
      jobListPreparationAndReleaseTaskStatusOptions: { select: "nodeId" },
    });
    assert.equal(selected[0].nodeId, node.id);
    assert.equal(selected[0].poolId, undefined);

    await client.job.terminate(job);
    await waitFor("the job to complete", async () => (await client.job.get(job)).state === "completed");
    const [after] = await client.job.listPreparationAndReleaseTaskStatus(job);
    const rel = after.jobReleaseTaskExecutionInfo;
    assert.equal(rel.state, "completed", JSON.stringify(after));
    assert.equal(rel.result, "success");
    assert.equal(rel.exitCode, 0);
    assert.match(rel.taskRootDirectoryUrl, /\/job-1\/jobrelease$/);
    await client.job.deleteMethod(job);
  });

  it("errors as Azure gives them", async () => {
    const plain = `${prefix}-plain`;
    await client.job.add({ id: plain, poolInfo: { poolId: pool } });
    await rejects(client.job.listPreparationAndReleaseTaskStatus(plain), 409, "JobPreparationTaskNotSpecified");
    await rejects(client.job.listPreparationAndReleaseTaskStatus(`${prefix}-none`), 404, "JobNotFound");
    const err = await rejects(client.job.add({
      id: `${prefix}-bad`,
      poolInfo: { poolId: pool },
      jobPreparationTask: { commandLine: "true" },
      jobReleaseTask: { commandLine: "true", maxWallClockTime: "PT1H" },
    }), 400, "InvalidPropertyValue");
    assert.deepEqual(err.body.values[0], { key: "PropertyName", value: "jobReleaseTask.maxWallClockTime" });
    await client.job.deleteMethod(plain);
  });
});
