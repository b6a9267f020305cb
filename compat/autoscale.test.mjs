// Autoscale operations and $expand=stats through the official SDK.
import assert from "node:assert/strict";
import { describe, it, before, after } from "node:test";
import { newClient, uid, waitFor, rejects } from "./helpers.mjs";

const client = newClient();
const prefix = uid("cas");
const pool = `${prefix}-pool`;
const job = `${prefix}-job`;

describe("autoscale and stats", () => {
  before(async () => {
    await client.pool.add({ id: pool, vmSize: "standard_d2s_v3", targetDedicatedNodes: 0 });
    await client.job.add({ id: job, poolInfo: { poolId: pool } });
  });
  after(async () => {
    await client.job.deleteMethod(job).catch(() => {});
    await client.pool.deleteMethod(pool).catch(() => {});
  });

  it("enableAutoScale, evaluateAutoScale, disableAutoScale as Azure", async () => {
    const en = await client.pool.enableAutoScale(pool, {
      autoScaleFormula: "$TargetDedicatedNodes = 0;",
      autoScaleEvaluationInterval: "PT5S",
    });
    assert.equal(en._response.status, 200);
    const p = await waitFor("the first evaluation", async () => {
      const got = await client.pool.get(pool);
      return got.autoScaleRun ? got : null;
    });
    assert.equal(p.enableAutoScale, true);
    assert.equal(p.autoScaleFormula, "$TargetDedicatedNodes = 0;");
    assert.equal(p.autoScaleEvaluationInterval, "PT5S");
    assert.match(p.autoScaleRun.results, /\$TargetDedicatedNodes=0/);

    // A manual resize of an autoscale pool is refused.
    await rejects(client.pool.resize(pool, { targetDedicatedNodes: 1 }), 409, "PoolIsAutoScaleEnabled");

    // evaluate is a dry run: the results of the given formula, no change.
    const ev = await client.pool.evaluateAutoScale(pool, "$TargetDedicatedNodes = 3; $x = 2 * 21;");
    assert.match(ev.results, /\$TargetDedicatedNodes=3/);
    assert.match(ev.results, /\$x=42/);
    assert.equal(ev.error, undefined);
    await rejects(client.pool.evaluateAutoScale(pool, "$TargetDedicatedNodes = ;"), 400, "AutoScalingFormulaSyntaxError");
    assert.equal((await client.pool.get(pool)).targetDedicatedNodes, 0, "evaluate resized nothing");

    const dis = await client.pool.disableAutoScale(pool);
    assert.equal(dis._response.status, 200);
    assert.equal((await client.pool.get(pool)).enableAutoScale, false);
    await client.pool.resize(pool, { targetDedicatedNodes: 0 });
  });

  it("$expand=stats on job and pool get and list", async () => {
    const j = await client.job.get(job, { jobGetOptions: { expand: "stats" } });
    assert.ok(j.stats, "stats expanded");
    assert.equal(j.stats.numSucceededTasks, 0);
    assert.equal(j.stats.userCPUTime, "PT0S");
    assert.equal((await client.job.get(job)).stats, undefined, "stats only when asked");
    const jobs = await client.job.list({ jobListOptions: { expand: "stats", filter: `id eq '${job}'` } });
    assert.ok(jobs[0].stats);
    const p = await client.pool.get(pool, { poolGetOptions: { expand: "stats" } });
    assert.ok(p.stats.usageStats);
    await rejects(client.job.get(job, { jobGetOptions: { expand: "tasks" } }), 400, "InvalidQueryParameterValue");
  });
});
