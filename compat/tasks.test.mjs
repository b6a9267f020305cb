// Tasks that really run on a node, and their files, through the official SDK.
import assert from "node:assert/strict";
import { describe, it, before, after } from "node:test";
import {
  newClient, uid, waitFor, waitDeepEqual, listAll, assertSameIds, rejects, readAll, waitIdleNodes, waitTaskCompleted,
} from "./helpers.mjs";

const client = newClient();
const prefix = uid("ctask");
const pool = `${prefix}-pool`;
const job = `${prefix}-job`;

// commandLine is not run under a shell (as on Azure): ask for one.
const HELLO = "/bin/sh -c 'printf \"hello %s\\n\" \"$GREETING\"; echo oops >&2'";
const HELLO_OUT = "hello world\n";

describe("tasks on a real node", () => {
  let nodeIds;

  before(async () => {
    await client.pool.add({ id: pool, vmSize: "standard_d2s_v3", targetDedicatedNodes: 1, taskSlotsPerNode: 4 });
    nodeIds = (await waitIdleNodes(client, pool, 1)).map((n) => n.id);
    await client.job.add({ id: job, poolInfo: { poolId: pool } });
  });

  after(async () => {
    await client.job.deleteMethod(job).catch(() => {});
    await client.pool.deleteMethod(pool).catch(() => {});
  });

  it("add answers 201; the task runs on the pool's node and succeeds", async () => {
    const res = await client.task.add(job, {
      id: "hello",
      displayName: "compat hello",
      commandLine: HELLO,
      environmentSettings: [{ name: "GREETING", value: "world" }],
    });
    assert.equal(res._response.status, 201);
    assert.match(res.eTag, /^0x[0-9A-F]+$/i);

    const t = await waitTaskCompleted(client, job, "hello");
    assert.equal(t.displayName, "compat hello");
    assert.equal(t.commandLine, HELLO);
    assert.deepEqual(t.environmentSettings, [{ name: "GREETING", value: "world" }]);
    assert.equal(t.executionInfo.exitCode, 0);
    assert.equal(t.executionInfo.result, "success");
    assert.equal(t.executionInfo.retryCount, 0);
    assert.ok(t.executionInfo.startTime <= t.executionInfo.endTime);
    assert.equal(t.nodeInfo.poolId, pool);
    assert.ok(nodeIds.includes(t.nodeInfo.nodeId), `ran on ${t.nodeInfo.nodeId}, pool has ${nodeIds}`);
    assert.ok(t.url.endsWith(`/jobs/${job}/tasks/hello`), t.url);
    assert.equal(t.eTagHeader, t.eTag);

    const sel = await client.task.get(job, "hello", { taskGetOptions: { select: "id,state" } });
    assert.equal(sel.state, "completed");
    assert.equal(sel.commandLine, undefined);
  });

  it("a completed task's previousState is running, as on Azure", async () => {
    const t = await waitTaskCompleted(client, job, "hello");
    assert.equal(t.previousState, "running");
  });

  it("timestamps are rendered with 7 fractional digits, as Azure does", async () => {
    const t = await client.task.get(job, "hello");
    const raw = JSON.parse(t._response.bodyAsText);
    const stamps = [raw.creationTime, raw.lastModified, raw.stateTransitionTime,
      raw.executionInfo.startTime, raw.executionInfo.endTime];
    for (const s of stamps) assert.match(s, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/, `timestamp ${s}`);
  });

  it("files: listFromTask, getFromTask (whole and ocp-range), getPropertiesFromTask", async () => {
    const files = await client.file.listFromTask(job, "hello");
    const byName = Object.fromEntries(files.map((f) => [f.name, f]));
    assert.ok(byName["stdout.txt"] && byName["stderr.txt"], `files: ${Object.keys(byName)}`);
    assert.equal(byName["stdout.txt"].isDirectory, false);
    assert.equal(byName["stdout.txt"].properties.contentLength, HELLO_OUT.length);
    assert.ok(byName["stdout.txt"].url.endsWith(`/jobs/${job}/tasks/hello/files/stdout.txt`), byName["stdout.txt"].url);

    const out = await client.file.getFromTask(job, "hello", "stdout.txt");
    assert.equal(out._response.status, 200);
    assert.equal((await readAll(out.readableStreamBody)).toString(), HELLO_OUT);
    const errOut = await client.file.getFromTask(job, "hello", "stderr.txt");
    assert.equal((await readAll(errOut.readableStreamBody)).toString(), "oops\n");

    const part = await client.file.getFromTask(job, "hello", "stdout.txt", {
      fileGetFromTaskOptions: { ocpRange: "bytes=0-4" },
    });
    assert.equal(part._response.status, 200, "ranged reads answer 200, as the SDK requires");
    assert.equal((await readAll(part.readableStreamBody)).toString(), "hello");
    const mid = await client.file.getFromTask(job, "hello", "stdout.txt", {
      fileGetFromTaskOptions: { ocpRange: "bytes=6-10" },
    });
    assert.equal((await readAll(mid.readableStreamBody)).toString(), "world");

    const props = await client.file.getPropertiesFromTask(job, "hello", "stdout.txt");
    assert.equal(props._response.status, 200);
    assert.equal(props.contentLength, HELLO_OUT.length);
    assert.equal(props.ocpBatchFileIsdirectory, false);
    assert.ok(props.lastModified instanceof Date && !isNaN(props.lastModified));

    // Stream and HEAD operations do not parse error bodies: status only.
    await rejects(client.file.getFromTask(job, "hello", "nope.txt"), 404);
    await rejects(client.file.getPropertiesFromTask(job, "hello", "nope.txt"), 404);
    await rejects(client.file.listFromTask(job, "no-such-task"), 404, "TaskNotFound");

    const std = await client.file.listFromTask(job, "hello", { fileListFromTaskOptions: { filter: "startswith(name,'stdo')" } });
    assert.deepEqual(std.map((f) => f.name), ["stdout.txt"]);
  });

  it("a file in a subdirectory of the working directory is listed and read", async () => {
    // The odd name checks SharedKey over paths: the SDK signs ' but node-fetch sends %27.
    await client.task.add(job, {
      id: "nested",
      commandLine: "/bin/sh -c \"mkdir -p 'sub dir' && printf abcdef > 'sub dir/a.txt' && printf 12 > \\\"it's (1)!*~#.txt\\\"\"",
    });
    await waitTaskCompleted(client, job, "nested");
    const files = await client.file.listFromTask(job, "nested", { fileListFromTaskOptions: {}, recursive: true });
    const f = files.find((x) => x.name === "wd/sub dir/a.txt");
    assert.ok(f, `recursive list: ${files.map((x) => x.name)}`);
    assert.equal(f.properties.contentLength, 6);
    const got = await client.file.getFromTask(job, "nested", "wd/sub dir/a.txt", {
      fileGetFromTaskOptions: { ocpRange: "bytes=2-3" },
    });
    assert.equal((await readAll(got.readableStreamBody)).toString(), "cd");

    const top = await client.file.listFromTask(job, "nested");
    assert.ok(!top.some((x) => x.name.startsWith("wd/")), `not recursive: ${top.map((x) => x.name)}`);
    const firstFiles = await client.file.listFromTask(job, "nested", { recursive: true, fileListFromTaskOptions: { maxResults: 2 } });
    assert.equal(firstFiles.length, 2);
    const paged = await listAll(firstFiles, (link) => client.file.listFromTaskNext(link));
    assertSameIds(paged.items.map((x) => x.name), files.map((x) => x.name), "paged recursive file list");

    const odd = "wd/it's (1)!*~#.txt";
    assert.ok(files.some((x) => x.name === odd), `recursive list: ${files.map((x) => x.name)}`);
    assert.equal((await client.file.getPropertiesFromTask(job, "nested", odd)).contentLength, 2);
    const oddBody = await client.file.getFromTask(job, "nested", odd);
    assert.equal((await readAll(oddBody.readableStreamBody)).toString(), "12");

    // deleteFromTask: a file; a non-empty directory only with recursive.
    const del = await client.file.deleteFromTask(job, "nested", odd);
    assert.equal(del._response.status, 200);
    await rejects(client.file.getPropertiesFromTask(job, "nested", odd), 404);
    await rejects(client.file.deleteFromTask(job, "nested", "wd/sub dir"), 409, "DirectoryNotEmpty");
    await client.file.deleteFromTask(job, "nested", "wd/sub dir", { recursive: true });
    const left = await client.file.listFromTask(job, "nested", { recursive: true });
    assert.ok(!left.some((x) => x.name.startsWith("wd/sub dir")), `after delete: ${left.map((x) => x.name)}`);
    await rejects(client.file.deleteFromTask(job, "nested", "wd/../../x"), 400);
  });

  it("a failing command completes with its exit code and result failure", async () => {
    await client.task.add(job, { id: "fails", commandLine: "/bin/sh -c 'exit 3'" });
    const t = await waitTaskCompleted(client, job, "fails");
    assert.equal(t.executionInfo.exitCode, 3);
    assert.equal(t.executionInfo.result, "failure");
    assert.equal(t.executionInfo.failureInfo?.category, "usererror");
  });

  it("addCollection gives per-task results, a duplicate id gets TaskExists; $filter and listNext", async () => {
    const ids = ["c-0", "c-1", "c-2", "c-3", "c-4"];
    const res = await client.task.addCollection(job, [
      ...ids.map((id, i) => ({ id, commandLine: `/bin/sh -c 'echo $AZ_BATCH_TASK_ID; exit ${i % 2}'` })),
      { id: "hello", commandLine: "/bin/true" },
    ]);
    assert.equal(res._response.status, 200);
    const byId = Object.fromEntries(res.value.map((r) => [r.taskId, r]));
    assert.equal(res.value.length, 6);
    for (const id of ids) {
      assert.equal(byId[id].status, "success", JSON.stringify(byId[id]));
      assert.match(byId[id].eTag, /^0x[0-9A-F]+$/i);
      assert.ok(byId[id].location.endsWith(`/jobs/${job}/tasks/${id}`), byId[id].location);
    }
    assert.equal(byId.hello.status, "clienterror");
    assert.equal(byId.hello.error.code, "TaskExists");
    assert.equal(typeof byId.hello.error.message.value, "string");
    // The existing task was not replaced.
    assert.equal((await client.task.get(job, "hello")).commandLine, HELLO);

    for (const id of ids) await waitTaskCompleted(client, job, id);
    const c2 = await client.file.getFromTask(job, "c-2", "stdout.txt");
    assert.equal((await readAll(c2.readableStreamBody)).toString(), "c-2\n", "AZ_BATCH_TASK_ID");

    const listFiltered = async (filter) => {
      const first = await client.task.list(job, { taskListOptions: { filter, maxResults: 2 } });
      return (await listAll(first, (link) => client.task.listNext(link))).items.map((t) => t.id);
    };
    assertSameIds(await listFiltered("startswith(id,'c-')"), ids, "startswith(id,'c-')");
    assertSameIds(await listFiltered("startswith(id,'c-') and executionInfo/exitCode eq 1"), ["c-1", "c-3"],
      "exitCode eq 1");
    assertSameIds(await listFiltered("state eq 'completed' and executionInfo/result eq 'failure'"),
      ["fails", "c-1", "c-3"], "failed tasks");
    assertSameIds(await listFiltered("state eq 'active' or state eq 'running'"), [], "nothing left to run");

    const all = await client.task.list(job, { taskListOptions: { maxResults: 3 } });
    const { items } = await listAll(all, (link) => client.task.listNext(link));
    assertSameIds(items.map((t) => t.id), ["hello", "nested", "fails", ...ids], "every task once");

    // Task counts are eventually consistent, on Azure too.
    const want = { active: 0, running: 0, completed: 8, succeeded: 5, failed: 3 };
    await waitDeepEqual("task counts", async () => ({ ...(await client.job.getTaskCounts(job)).taskCounts }), want,
      { timeout: 10000 });
  });

  it("terminate stops a running task (204); delete removes a task (200), honouring If-Match", async () => {
    await client.task.add(job, { id: "sleeper", commandLine: "/bin/sleep 60" });
    const first = await client.task.get(job, "sleeper");
    await waitFor("sleeper running", async () => (await client.task.get(job, "sleeper")).state === "running");
    const started = Date.now();
    const res = await client.task.terminate(job, "sleeper");
    assert.equal(res._response.status, 204);
    const done = await waitTaskCompleted(client, job, "sleeper");
    assert.ok(Date.now() - started < 15000, "terminate killed the process");
    assert.equal(done.executionInfo.result, "failure");
    assert.equal(done.executionInfo.failureInfo?.code, "TaskEnded");
    assert.notEqual(done.eTag, first.eTag, "terminating the task changed its ETag");

    await rejects(client.task.deleteMethod(job, "sleeper", { taskDeleteMethodOptions: { ifMatch: first.eTag } }),
      412, "ConditionNotMet");
    await rejects(client.task.deleteMethod(job, "sleeper", { taskDeleteMethodOptions: { ifNoneMatch: done.eTag } }),
      412, "ConditionNotMet");
    assert.equal((await client.task.get(job, "sleeper")).state, "completed", "a refused delete deletes nothing");
    const del = await client.task.deleteMethod(job, "sleeper", { taskDeleteMethodOptions: { ifMatch: done.eTag } });
    assert.equal(del._response.status, 200);
    await rejects(client.task.get(job, "sleeper"), 404, "TaskNotFound");
    await rejects(client.task.deleteMethod(job, "sleeper"), 404, "TaskNotFound");
    await rejects(client.task.terminate(job, "sleeper"), 404, "TaskNotFound");

    await waitDeepEqual("the deleted task is no longer counted",
      async () => (await client.job.getTaskCounts(job)).taskCounts.completed, 8, { timeout: 10000 });
  });

  it("terminating a job ends its running task; deleting a job removes its tasks", async () => {
    const other = `${prefix}-other`;
    await client.job.add({ id: other, poolInfo: { poolId: pool } });
    await client.task.add(other, { id: "sleeper", commandLine: "/bin/sleep 60" });
    await waitFor("sleeper running", async () => (await client.task.get(other, "sleeper")).state === "running");
    await client.job.terminate(other, { terminateReason: "enough" });
    const t = await waitTaskCompleted(client, other, "sleeper", 15000);
    assert.equal(t.executionInfo.failureInfo?.code, "TaskEnded");
    await waitFor("job completed", async () => (await client.job.get(other)).state === "completed");

    await client.job.deleteMethod(other);
    await waitFor(`job ${other} gone`, async () => {
      try {
        await client.job.get(other);
        return false;
      } catch (e) {
        if (e.statusCode === 404 && e.code === "JobNotFound") return true;
        throw e;
      }
    });
    await rejects(client.task.get(other, "sleeper"), 404, "JobNotFound");
  });

  it("onAllTasksComplete terminatejob completes the job when its tasks are done", async () => {
    const auto = `${prefix}-auto`;
    await client.job.add({ id: auto, poolInfo: { poolId: pool } });
    await client.task.addCollection(auto, [
      { id: "a", commandLine: "/bin/true" },
      { id: "b", commandLine: "/bin/sh -c 'exit 1'" },
    ]);
    const j = await client.job.get(auto);
    assert.equal(j.onAllTasksComplete, "noaction");
    await waitTaskCompleted(client, auto, "a");
    await waitTaskCompleted(client, auto, "b");
    assert.equal((await client.job.get(auto)).state, "active", "noaction keeps the job active");
    await client.job.deleteMethod(auto);

    const term = `${prefix}-autoterm`;
    await client.job.add({ id: term, poolInfo: { poolId: pool }, onAllTasksComplete: "terminatejob" });
    await client.task.addCollection(term, [
      { id: "a", commandLine: "/bin/true" },
      { id: "b", commandLine: "/bin/sh -c 'exit 1'" },
    ]);
    const done = await waitFor("job completed by onAllTasksComplete", async () => {
      const x = await client.job.get(term);
      return x.state === "completed" ? x : null;
    });
    assert.equal(done.executionInfo.terminateReason, "AllTasksComplete");
    await client.job.deleteMethod(term);
  });

  it("errors: TaskExists on add, TaskNotFound on get", async () => {
    await rejects(client.task.add(job, { id: "hello", commandLine: "/bin/true" }), 409, "TaskExists");
    await rejects(client.task.add(job, { id: "HELLO", commandLine: "/bin/true" }), 409, "TaskExists");
    await rejects(client.task.get(job, "no-such-task"), 404, "TaskNotFound");
  });
});
