// A job manager task that adds 500 tasks with the official SDK and the
// job-scoped token natch gives it (authenticationTokenSettings access job).
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { describe, it, before, after } from "node:test";
import { newClient, uid, waitFor } from "./helpers.mjs";

const client = newClient();
const prefix = uid("cjm");
const pool = `${prefix}-pool`;
const script = fileURLToPath(new URL("./fixtures/jobmanager.mjs", import.meta.url));

describe("job manager task", () => {
  before(async () => {
    await client.pool.add({ id: pool, vmSize: "standard_d2s_v3", targetDedicatedNodes: 2, taskSlotsPerNode: 2 });
  });
  after(async () => {
    await client.pool.deleteMethod(pool).catch(() => {});
  });

  it("adds 500 tasks through the API with AZ_BATCH_AUTHENTICATION_TOKEN; the job ends when they are done", async () => {
    const job = `${prefix}-job`;
    await client.job.add({
      id: job,
      poolInfo: { poolId: pool },
      onAllTasksComplete: "terminatejob",
      jobManagerTask: {
        id: "manager",
        commandLine: `${process.execPath} ${script} 500`,
        killJobOnCompletion: false,
        runExclusive: false,
        authenticationTokenSettings: { access: ["job"] },
      },
    });
    const j = await client.job.get(job);
    assert.equal(j.jobManagerTask.id, "manager");
    assert.equal(j.jobManagerTask.killJobOnCompletion, false);

    const done = await waitFor("the job to complete", async () => {
      const jj = await client.job.get(job);
      return jj.state === "completed" ? jj : null;
    }, { timeout: 30000 });
    assert.equal(done.executionInfo.terminateReason, "AllTasksComplete");
    const counts = await client.job.getTaskCounts(job);
    assert.equal(counts.taskCounts.succeeded, 501, JSON.stringify(counts));
    const manager = await client.task.get(job, "manager");
    assert.equal(manager.executionInfo.exitCode, 0);
    await client.job.deleteMethod(job);
  });

  it("killJobOnCompletion (the default) ends the job when the manager exits", async () => {
    const job = `${prefix}-kill`;
    await client.job.add({
      id: job,
      poolInfo: { poolId: pool },
      jobManagerTask: { id: "manager", commandLine: "/bin/sh -c 'exit 0'" },
    });
    const done = await waitFor("the job to complete", async () => {
      const jj = await client.job.get(job);
      return jj.state === "completed" ? jj : null;
    }, { timeout: 20000 });
    assert.equal(done.executionInfo.terminateReason, "JMComplete");
    assert.equal(done.jobManagerTask.killJobOnCompletion, true);
    assert.equal(done.jobManagerTask.runExclusive, true);
    await client.job.deleteMethod(job);
  });
});
