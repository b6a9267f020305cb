// Shared helpers of the conformance suite: a client of the official SDK
// (unmodified) for the natch named by NATCH_URL / NATCH_ACCOUNT / NATCH_KEY,
// unique ids, polling, paging and error assertions.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { BatchServiceClient, BatchSharedKeyCredentials } from "@azure/batch";

/** The natch under test, from the environment (compat_test.go sets it). */
export function target() {
  const url = process.env.NATCH_URL;
  const account = process.env.NATCH_ACCOUNT;
  const key = process.env.NATCH_KEY;
  if (!url || !account || !key) {
    throw new Error("set NATCH_URL, NATCH_ACCOUNT and NATCH_KEY (go test ./compat/ does)");
  }
  return { url, account, key };
}

/** A BatchServiceClient signed with SharedKey; key defaults to NATCH_KEY. */
export function newClient(key) {
  const t = target();
  return new BatchServiceClient(new BatchSharedKeyCredentials(t.account, key ?? t.key), t.url);
}

/**
 * A fresh id with a readable prefix, so that test files running in parallel
 * (and repeated runs against one natch) never share objects.
 */
export function uid(prefix) {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}

/** A random, well-formed account key that natch did not issue. */
export function wrongKey() {
  return randomBytes(64).toString("base64");
}

/**
 * Polls fn until it returns a truthy value and returns that value; fails
 * with what fn last returned (or threw) after `timeout` ms.
 */
export async function waitFor(what, fn, { timeout = 20000, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      assert.fail(`timed out after ${timeout} ms waiting for ${what}; last: ${describe(last)}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** Polls fn until its result deep-equals want; fails showing the last result. */
export async function waitDeepEqual(what, fn, want, opts) {
  let last;
  const equal = (v) => {
    try {
      assert.deepEqual(v, want);
      return true;
    } catch {
      return false;
    }
  };
  try {
    await waitFor(what, async () => equal((last = await fn())), opts);
  } catch (err) {
    assert.deepEqual(last, want, `${what}: ${err.message}`);
  }
}

/**
 * Follows odata.nextLink from a first page with next(link), returning every
 * item and the number of pages read.
 */
export async function listAll(firstPage, next) {
  const items = [...firstPage];
  let page = firstPage;
  let pages = 1;
  while (page.odatanextLink) {
    assert.match(page.odatanextLink, /^https?:\/\//, "nextLink must be absolute for the SDK");
    page = await next(page.odatanextLink);
    items.push(...page);
    pages++;
    assert.ok(pages < 1000, "paging does not end");
  }
  return { items, pages };
}

/** Asserts that ids has no duplicates and equals want as a set. */
export function assertSameIds(ids, want, msg) {
  const dups = ids.filter((id, i) => ids.indexOf(id) !== i);
  assert.deepEqual(dups, [], `${msg}: visited more than once`);
  assert.deepEqual([...ids].sort(), [...want].sort(), msg);
}

/**
 * Awaits p, which must reject with an SDK RestError of this HTTP status and,
 * when code is given, this Azure error code. Returns the error.
 */
export async function rejects(p, status, code) {
  let err;
  try {
    const res = await p;
    assert.fail(`expected ${status} ${code ?? ""}, got success: ${describe(res)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  assert.equal(err.statusCode, status, `status of ${describe(err)}`);
  if (code !== undefined) {
    assert.equal(err.code, code, `code of ${describe(err)}`);
    // Azure's error body: message is {lang, value}.
    assert.equal(typeof err.message?.value, "string", `message.value of ${describe(err)}`);
  }
  return err;
}

/** Reads a node stream (file.getFromTask's readableStreamBody) into a Buffer. */
export async function readAll(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks);
}

/** Waits until pool has n nodes, all idle, and returns them. */
export async function waitIdleNodes(client, poolId, n, timeout = 20000) {
  return waitFor(`${n} idle node(s) in ${poolId}`, async () => {
    const nodes = await client.computeNode.list(poolId);
    return nodes.length === n && nodes.every((nd) => nd.state === "idle") ? nodes : null;
  }, { timeout });
}

/** Waits until the task is completed and returns it. */
export async function waitTaskCompleted(client, jobId, taskId, timeout = 20000) {
  return waitFor(`task ${jobId}/${taskId} completed`, async () => {
    const t = await client.task.get(jobId, taskId);
    return t.state === "completed" ? t : null;
  }, { timeout });
}

function describe(v) {
  if (v instanceof Error) {
    const body = v.response?.bodyAsText;
    return `${v.name} status=${v.statusCode} code=${v.code} message=${JSON.stringify(v.message)}` +
      (body ? ` body=${body}` : "") + (v.request ? ` (${v.request.method} ${v.request.url})` : "");
  }
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}
