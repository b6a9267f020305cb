// Compute node operations (files on the node, scheduling, remote login,
// users, logs, reboot, reimage), pool stopResize/removeNodes, usage metrics,
// lifetime statistics and the supported images, through the official SDK.
import assert from "node:assert/strict";
import { describe, it, before, after } from "node:test";
import {
  newClient, uid, waitFor, listAll, assertSameIds, rejects, readAll, waitIdleNodes, waitTaskCompleted,
} from "./helpers.mjs";

const client = newClient();
const prefix = uid("cnode");
const pool = `${prefix}-pool`;
const job = `${prefix}-job`;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Adds a task and waits for it to complete; returns the task. */
async function run(id, commandLine, timeout) {
  await client.task.add(job, { id, commandLine });
  return waitTaskCompleted(client, job, id, timeout);
}

/** Waits until node is back idle (after a reboot or reimage) and returns it. */
function waitNodeIdle(nodeId, timeout = 20000) {
  return waitFor(`node ${nodeId} idle`, async () => {
    const n = await client.computeNode.get(pool, nodeId);
    return n.state === "idle" ? n : null;
  }, { timeout });
}

describe("compute nodes", () => {
  let a; // the node the scheduling, reboot and file tests act on
  let b; // the other node

  before(async () => {
    await client.pool.add({ id: pool, vmSize: "standard_d2s_v3", targetDedicatedNodes: 2, taskSlotsPerNode: 2 });
    const nodes = await waitIdleNodes(client, pool, 2, 30000);
    [a, b] = nodes.map((n) => n.id).sort();
    await client.job.add({ id: job, poolInfo: { poolId: pool } });
  });

  after(async () => {
    await client.job.deleteMethod(job).catch(() => {});
    await client.pool.deleteMethod(pool).catch(() => {});
  });

  it("files FromComputeNode: list (recursive, $filter, paging), get (ocp-range), properties, delete", async () => {
    const t = await run("writer", "/bin/sh -c 'mkdir -p sub && printf node-file > sub/out.txt && echo x > a.txt && echo y > b.txt'");
    assert.equal(t.executionInfo.exitCode, 0);
    const node = t.nodeInfo.nodeId;
    const wd = `workitems/${job}/job-1/writer/wd`;

    const top = await client.file.listFromComputeNode(pool, node);
    const names = top.map((f) => f.name);
    assert.ok(names.includes("workitems") && names.includes("shared") && names.includes("startup"), `root: ${names}`);
    assert.equal(top.find((f) => f.name === "workitems").isDirectory, true);

    const first = await client.file.listFromComputeNode(pool, node, {
      recursive: true, fileListFromComputeNodeOptions: { filter: `startswith(name,'${wd}/')`, maxResults: 2 },
    });
    assert.equal(first.length, 2, "a page of maxresults files");
    const { items, pages } = await listAll(first, (link) => client.file.listFromComputeNodeNext(link, { recursive: true }));
    assert.ok(pages >= 2, `pages: ${pages}`);
    assertSameIds(items.map((f) => f.name), [`${wd}/a.txt`, `${wd}/b.txt`, `${wd}/sub`, `${wd}/sub/out.txt`], "recursive filtered list");
    const out = items.find((f) => f.name === `${wd}/sub/out.txt`);
    assert.equal(out.properties.contentLength, "node-file".length);
    assert.ok(out.url.endsWith(`/pools/${pool}/nodes/${node}/files/${encodeURIComponent(`${wd}/sub/out.txt`)}`), out.url);

    const whole = await client.file.getFromComputeNode(pool, node, `${wd}/sub/out.txt`);
    assert.equal(whole._response.status, 200);
    assert.equal((await readAll(whole.readableStreamBody)).toString(), "node-file");
    const part = await client.file.getFromComputeNode(pool, node, `${wd}/sub/out.txt`, {
      fileGetFromComputeNodeOptions: { ocpRange: "bytes=5-8" },
    });
    assert.equal(part._response.status, 200);
    assert.equal((await readAll(part.readableStreamBody)).toString(), "file");

    const props = await client.file.getPropertiesFromComputeNode(pool, node, `${wd}/sub/out.txt`);
    assert.equal(props._response.status, 200);
    assert.equal(props.contentLength, "node-file".length);
    assert.equal(props.ocpBatchFileIsdirectory, false);
    assert.ok(props.ocpBatchFileUrl.includes(`/pools/${pool}/nodes/${node}/files/`), props.ocpBatchFileUrl);
    const dirProps = await client.file.getPropertiesFromComputeNode(pool, node, `${wd}/sub`);
    assert.equal(dirProps.ocpBatchFileIsdirectory, true);

    // Paths never leave the node's root directory.
    await rejects(client.file.getFromComputeNode(pool, node, "../agent.log"), 400);
    await rejects(client.file.getPropertiesFromComputeNode(pool, node, "/etc/passwd"), 400);

    await rejects(client.file.deleteFromComputeNode(pool, node, `${wd}/sub`), 409, "DirectoryNotEmpty");
    const del = await client.file.deleteFromComputeNode(pool, node, `${wd}/sub`, { recursive: true });
    assert.equal(del._response.status, 200);
    await rejects(client.file.getPropertiesFromComputeNode(pool, node, `${wd}/sub/out.txt`), 404);
    await rejects(client.file.getFromComputeNode(pool, node, `${wd}/nope.txt`), 404);
    await rejects(client.file.listFromComputeNode(pool, `${prefix}-no-node`), 404, "NodeNotFound");
  });

  it("disableScheduling: the node takes no tasks and stays disabled across heartbeats; enableScheduling undoes it", async () => {
    const res = await client.computeNode.disableScheduling(pool, a, { nodeDisableSchedulingOption: "requeue" });
    assert.equal(res._response.status, 200);
    assert.equal((await client.computeNode.get(pool, a)).schedulingState, "disabled");

    for (let i = 0; i < 4; i++) await client.task.add(job, { id: `only-b-${i}`, commandLine: "/bin/sh -c 'sleep 0.2'" });
    for (let i = 0; i < 4; i++) {
      const t = await waitTaskCompleted(client, job, `only-b-${i}`);
      assert.equal(t.nodeInfo.nodeId, b, `only-b-${i} ran on the enabled node`);
    }
    await sleep(2500); // more than a worker heartbeat (2 s): the node rewrote its record meanwhile
    const disabled = await client.computeNode.get(pool, a);
    assert.equal(disabled.schedulingState, "disabled", "the heartbeat keeps the disabled state");
    const listed = await client.computeNode.list(pool, { computeNodeListOptions: { filter: "schedulingState eq 'disabled'" } });
    assert.deepEqual(listed.map((n) => n.id), [a]);

    assert.equal((await client.computeNode.enableScheduling(pool, a))._response.status, 200);
    assert.equal((await client.computeNode.get(pool, a)).schedulingState, "enabled");
    await client.computeNode.disableScheduling(pool, b, { nodeDisableSchedulingOption: "taskcompletion" });
    const t = await run("on-a", "/bin/sh -c 'true'");
    assert.equal(t.nodeInfo.nodeId, a, "the re-enabled node takes tasks");
    await client.computeNode.enableScheduling(pool, b);
  });

  it("disableScheduling with requeue gives a running task back; it runs again elsewhere", async () => {
    await client.task.add(job, { id: "long", commandLine: "/bin/sh -c 'sleep 3'" });
    const running = await waitFor("task long running", async () => {
      const t = await client.task.get(job, "long");
      return t.state === "running" ? t : null;
    });
    const first = running.nodeInfo.nodeId;
    const other = first === a ? b : a;
    await client.computeNode.disableScheduling(pool, first, { nodeDisableSchedulingOption: "requeue" });
    const t = await waitTaskCompleted(client, job, "long", 20000);
    assert.equal(t.executionInfo.exitCode, 0);
    assert.equal(t.nodeInfo.nodeId, other, "the requeued task ran on the other node");
    assert.equal(t.executionInfo.retryCount, 0, "a requeue is not a retry");
    await client.computeNode.enableScheduling(pool, first);
  });

  it("disableScheduling with terminate ends a running task", async () => {
    await client.task.add(job, { id: "killed", commandLine: "/bin/sh -c 'sleep 30'" });
    const running = await waitFor("task killed running", async () => {
      const t = await client.task.get(job, "killed");
      return t.state === "running" ? t : null;
    });
    await client.computeNode.disableScheduling(pool, running.nodeInfo.nodeId, { nodeDisableSchedulingOption: "terminate" });
    const t = await waitTaskCompleted(client, job, "killed");
    assert.equal(t.executionInfo.result, "failure");
    assert.equal(t.executionInfo.failureInfo.code, "TaskEnded");
    await client.computeNode.enableScheduling(pool, running.nodeInfo.nodeId);
  });

  it("getRemoteLoginSettings answers the node's IP address and port 22", async () => {
    const n = await client.computeNode.get(pool, a);
    const rl = await client.computeNode.getRemoteLoginSettings(pool, a);
    assert.equal(rl._response.status, 200);
    assert.equal(rl.remoteLoginIPAddress, n.ipAddress);
    assert.equal(rl.remoteLoginPort, 22);
    await rejects(client.computeNode.getRemoteLoginSettings(pool, `${prefix}-no-node`), 404, "NodeNotFound");
  });

  it("node users: natch nodes cannot manage OS users (409 OperationNotValidOnNode)", async () => {
    await rejects(client.computeNode.addUser(pool, a, { name: "alice", password: "P@ssw0rd!" }), 409, "OperationNotValidOnNode");
    await rejects(client.computeNode.updateUser(pool, a, "alice", { password: "x" }), 409, "OperationNotValidOnNode");
    await rejects(client.computeNode.deleteUser(pool, a, "alice"), 409, "OperationNotValidOnNode");
    await rejects(client.computeNode.addUser(pool, `${prefix}-no-node`, { name: "alice" }), 404, "NodeNotFound");
  });

  it("uploadBatchServiceLogs uploads the agent log to the container", async () => {
    const res = await client.computeNode.uploadBatchServiceLogs(pool, a, {
      containerUrl: `nats://${prefix}-logs`,
      startTime: new Date(Date.now() - 3600e3),
    });
    assert.equal(res._response.status, 200);
    assert.ok(res.numberOfFilesUploaded >= 1, `files uploaded: ${res.numberOfFilesUploaded}`);
    assert.ok(res.virtualDirectoryName.startsWith(`${pool}/${a}/`), res.virtualDirectoryName);
    await rejects(client.computeNode.uploadBatchServiceLogs(pool, a, {
      containerUrl: "ftp://example.com/x", startTime: new Date(),
    }), 400, "InvalidPropertyValue");
  });

  it("reboot: the node shows rebooting, comes back idle with a new lastBootTime and runs tasks", async () => {
    const before = await client.computeNode.get(pool, a);
    const res = await client.computeNode.reboot(pool, a, { nodeRebootOption: "requeue" });
    assert.equal(res._response.status, 202);
    assert.equal((await client.computeNode.get(pool, a)).state, "rebooting");
    await rejects(client.computeNode.reboot(pool, a), 409, "NodeBeingRebooted");
    const back = await waitNodeIdle(a);
    assert.ok(back.lastBootTime > before.lastBootTime, `lastBootTime ${back.lastBootTime} after ${before.lastBootTime}`);

    await client.computeNode.disableScheduling(pool, b);
    const t = await run("after-reboot", "/bin/sh -c 'true'");
    assert.equal(t.nodeInfo.nodeId, a, "the rebooted node runs tasks");
    await client.computeNode.enableScheduling(pool, b);
  });

  it("reimage: the node shows reimaging and comes back idle with its task directories wiped", async () => {
    await client.computeNode.disableScheduling(pool, b);
    const t = await run("before-reimage", "/bin/sh -c 'echo keep > kept.txt'");
    assert.equal(t.nodeInfo.nodeId, a);
    const file = `workitems/${job}/job-1/before-reimage/wd/kept.txt`;
    await client.file.getPropertiesFromComputeNode(pool, a, file);

    const res = await client.computeNode.reimage(pool, a, { nodeReimageOption: "taskcompletion" });
    assert.equal(res._response.status, 202);
    assert.equal((await client.computeNode.get(pool, a)).state, "reimaging");
    await waitNodeIdle(a);
    await rejects(client.file.getPropertiesFromComputeNode(pool, a, file), 404);
    const again = await run("after-reimage", "/bin/sh -c 'true'");
    assert.equal(again.nodeInfo.nodeId, a, "the reimaged node runs tasks");
    await client.computeNode.enableScheduling(pool, b);
  });

  it("listUsageMetrics reports the pool's core hours per hour window", async () => {
    const metrics = await client.pool.listUsageMetrics({
      poolListUsageMetricsOptions: { filter: `poolId eq '${pool}'` },
    });
    assert.equal(metrics.length, 1, "the current window");
    const m = metrics[0];
    assert.equal(m.poolId, pool);
    assert.equal(m.vmSize, "standard_d2s_v3");
    assert.ok(m.startTime instanceof Date && m.endTime - m.startTime === 3600e3, `${m.startTime} ${m.endTime}`);
    assert.ok(m.totalCoreHours > 0, `core hours: ${m.totalCoreHours}`);

    const hours = await client.pool.listUsageMetrics({
      poolListUsageMetricsOptions: {
        startTime: new Date(Date.now() - 3 * 3600e3), endTime: new Date(), filter: `poolId eq '${pool}'`, maxResults: 1,
      },
    });
    const { items } = await listAll(hours, (link) => client.pool.listUsageMetricsNext(link));
    assert.ok(items.length >= 1 && items.every((x) => x.poolId === pool), `windows: ${items.length}`);
  });

  it("getAllLifetimeStatistics for pools and jobs", async () => {
    const ps = await client.pool.getAllLifetimeStatistics();
    assert.equal(ps._response.status, 200);
    assert.ok(ps.url.endsWith("/lifetimepoolstats"), ps.url);
    assert.ok(ps.startTime instanceof Date && ps.lastUpdateTime >= ps.startTime);
    assert.ok(ps.usageStats, "usageStats");
    assert.match(JSON.parse(ps._response.bodyAsText).usageStats.dedicatedCoreTime, /^P/);

    const js = await client.job.getAllLifetimeStatistics();
    assert.equal(js._response.status, 200);
    assert.ok(js.url.endsWith("/lifetimejobstats"), js.url);
    assert.ok(js.numSucceededTasks >= 8, `succeeded: ${js.numSucceededTasks}`);
    assert.ok(js.numFailedTasks >= 1, `failed: ${js.numFailedTasks}`);
  });

  it("account.listSupportedImages pages over the images natch runs", async () => {
    const first = await client.account.listSupportedImages({ accountListSupportedImagesOptions: { maxResults: 1 } });
    assert.equal(first.length, 1);
    const { items } = await listAll(first, (link) => client.account.listSupportedImagesNext(link));
    const skus = items.map((i) => i.nodeAgentSKUId);
    assert.ok(skus.includes("batch.node.ubuntu 22.04") && skus.includes("natch.node.local"), `${skus}`);
    for (const i of items) {
      assert.ok(i.imageReference.publisher && i.imageReference.offer && i.imageReference.sku, JSON.stringify(i));
      assert.ok(["linux", "windows"].includes(i.osType));
      assert.ok(["verified", "unverified"].includes(i.verificationType));
    }
    const linux = await client.account.listSupportedImages({ accountListSupportedImagesOptions: { filter: "verificationType eq 'verified'" } });
    assert.ok(linux.length >= 1 && linux.every((i) => i.verificationType === "verified"));
  });

  it("stopResize leaves the pool steady with its targets at what exists", async () => {
    const steady = await client.pool.stopResize(pool);
    assert.equal(steady._response.status, 202, "a steady pool: nothing to stop");
    assert.equal((await client.pool.get(pool)).allocationState, "steady");

    await client.pool.resize(pool, { targetDedicatedNodes: 4 });
    const res = await client.pool.stopResize(pool);
    assert.equal(res._response.status, 202);
    const p = await waitFor(`pool ${pool} steady`, async () => {
      const p = await client.pool.get(pool);
      return p.allocationState === "steady" ? p : null;
    });
    // Local nodes start in milliseconds: the stop may find all of them up.
    assert.ok(p.targetDedicatedNodes >= 2 && p.targetDedicatedNodes <= 4, `target ${p.targetDedicatedNodes}`);
    assert.equal(p.targetDedicatedNodes, p.currentDedicatedNodes);
    // ResizeStopped says the stop cut a resize short; a resize that was
    // done (all 4 up) before the stop came left nothing to stop.
    if (p.targetDedicatedNodes < 4) {
      assert.ok(p.resizeErrors?.some((e) => e.code === "ResizeStopped"), JSON.stringify(p.resizeErrors));
    }
    // What the stop left starting is gone; the pool settles at its target.
    await waitFor("pool nodes at target", async () => {
      const nodes = await client.computeNode.list(pool);
      return nodes.length === p.targetDedicatedNodes && nodes.every((n) => n.state === "idle");
    });
  });

  it("removeNodes removes exactly the named node and lowers the target", async () => {
    await rejects(client.pool.removeNodes(pool, { nodeList: [`${prefix}-no-node`] }), 404, "NodeNotFound");
    const p0 = await client.pool.get(pool);
    const res = await client.pool.removeNodes(pool, { nodeList: [a], nodeDeallocationOption: "requeue" });
    assert.equal(res._response.status, 202);
    assert.equal((await client.pool.get(pool)).targetDedicatedNodes, p0.targetDedicatedNodes - 1);
    const left = await waitFor(`node ${a} removed`, async () => {
      const nodes = await client.computeNode.list(pool);
      const p = await client.pool.get(pool);
      return !nodes.some((n) => n.id === a) && p.allocationState === "steady" ? nodes : null;
    });
    assert.ok(left.some((n) => n.id === b), `the other node stays: ${left.map((n) => n.id)}`);
    assert.equal(left.length, p0.targetDedicatedNodes - 1);
  });
});
