// Pools, compute nodes and account.listPoolNodeCounts through the official SDK.
import assert from "node:assert/strict";
import { describe, it, before, after } from "node:test";
import {
  newClient, uid, waitFor, waitDeepEqual, listAll, assertSameIds, rejects, waitIdleNodes,
} from "./helpers.mjs";

const client = newClient();
const prefix = uid("cpool");
const created = [];

async function addPool(id, extra = {}) {
  const res = await client.pool.add({ id, vmSize: "standard_d2s_v3", ...extra });
  created.push(id);
  return res;
}

/** Waits until the pool's allocationState is steady and returns the pool. */
function waitSteady(poolId) {
  return waitFor(`pool ${poolId} steady`, async () => {
    const p = await client.pool.get(poolId);
    return p.allocationState === "steady" ? p : null;
  });
}

describe("pools", () => {
  const main = `${prefix}-main`;

  before(async () => {
    await addPool(main, {
      displayName: "compat main pool",
      targetDedicatedNodes: 0,
      taskSlotsPerNode: 2,
      taskSchedulingPolicy: { nodeFillType: "Pack" }, // enums are case-insensitive
      metadata: [{ name: "owner", value: "compat" }],
    });
  });

  after(async () => {
    for (const id of created) {
      await client.pool.deleteMethod(id).catch(() => {});
    }
  });

  it("add answers 201 with an ETag and get returns what was added", async () => {
    const id = `${prefix}-add`;
    const res = await addPool(id, { targetDedicatedNodes: 0 });
    assert.equal(res._response.status, 201);
    assert.match(res.eTag, /^0x[0-9A-F]+$/i);
    assert.ok(res.lastModified instanceof Date);
    assert.ok(res.dataServiceId?.endsWith(`/pools/${id}`), `DataServiceId: ${res.dataServiceId}`);

    const p = await client.pool.get(main);
    assert.equal(p._response.status, 200);
    assert.equal(p.id, main);
    assert.equal(p.displayName, "compat main pool");
    assert.equal(p.vmSize, "standard_d2s_v3");
    assert.equal(p.state, "active");
    assert.equal(p.targetDedicatedNodes, 0);
    assert.equal(p.taskSlotsPerNode, 2);
    assert.equal(p.taskSchedulingPolicy.nodeFillType, "pack");
    assert.deepEqual(p.metadata, [{ name: "owner", value: "compat" }]);
    assert.match(p.eTag, /^0x[0-9A-F]+$/i);
    assert.equal(p.eTagHeader, p.eTag, "ETag header and body eTag agree");
    assert.ok(p.creationTime instanceof Date && !isNaN(p.creationTime));
    assert.ok(p.url.endsWith(`/pools/${main}`), p.url);
  });

  it("get with $select returns only the selected properties", async () => {
    const p = await client.pool.get(main, { poolGetOptions: { select: "id,state" } });
    assert.equal(p.id, main);
    assert.equal(p.state, "active");
    assert.equal(p.vmSize, undefined);
    assert.equal(p.taskSlotsPerNode, undefined);
  });

  it("echoes client-request-id when asked to", async () => {
    const clientRequestId = "11111111-2222-3333-4444-555555555555";
    const p = await client.pool.get(main, { poolGetOptions: { clientRequestId, returnClientRequestId: true } });
    assert.equal(p.clientRequestId, clientRequestId);
    assert.ok(p.requestId, "request-id header");
  });

  it("exists is true for a pool and false for a missing one", async () => {
    assert.equal((await client.pool.exists(main)).body, true);
    assert.equal((await client.pool.exists(`${prefix}-missing`)).body, false);
  });

  it("errors carry Azure's codes: PoolExists, PoolNotFound, InvalidPropertyValue", async () => {
    await rejects(client.pool.add({ id: main, vmSize: "standard_d2s_v3" }), 409, "PoolExists");
    // ids are unique case-insensitively
    await rejects(client.pool.add({ id: main.toUpperCase(), vmSize: "standard_d2s_v3" }), 409, "PoolExists");
    const missing = await rejects(client.pool.get(`${prefix}-missing`), 404, "PoolNotFound");
    const requestId = missing.response.headers.get("request-id");
    assert.ok(requestId, "request-id header on errors");
    assert.ok(missing.message.value.includes(`\nRequestId:${requestId}\n`), missing.message.value);
    assert.equal(missing.message.lang, "en-US");
    await rejects(client.pool.deleteMethod(`${prefix}-missing`), 404, "PoolNotFound");
    await rejects(client.pool.resize(`${prefix}-missing`, { targetDedicatedNodes: 1 }), 404, "PoolNotFound");
    const err = await rejects(client.pool.add({ id: "bad id!", vmSize: "standard_d2s_v3" }), 400, "InvalidPropertyValue");
    assert.ok(err.body.values?.some((kv) => kv.key === "PropertyName" && kv.value === "id"),
      `values name the property: ${JSON.stringify(err.body.values)}`);
  });

  it("list with $filter, $select and maxresults pages with listNext over every pool once", async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(`${prefix}-list-${i}`);
    for (const id of ids) await addPool(id, { targetDedicatedNodes: 0 });

    const first = await client.pool.list({
      poolListOptions: { filter: `startswith(id,'${prefix}-list-')`, select: "id,state", maxResults: 2 },
    });
    assert.equal(first.length, 2, "first page holds maxresults pools");
    assert.ok(first.odatanextLink, "a nextLink when more pools match");
    const { items, pages } = await listAll(first, (link) => client.pool.listNext(link));
    assert.equal(pages, 3);
    assertSameIds(items.map((p) => p.id), ids, "pages of the filtered list");
    for (const p of items) {
      assert.equal(p.state, "active");
      assert.equal(p.vmSize, undefined, "$select carried to every page");
    }

    const exact = await client.pool.list({ poolListOptions: { filter: `id eq '${ids[3]}'` } });
    assert.deepEqual(exact.map((p) => p.id), [ids[3]]);
    assert.equal(exact.odatanextLink, undefined);

    const none = await client.pool.list({
      poolListOptions: { filter: `startswith(id,'${prefix}-list-') and state eq 'deleting'` },
    });
    assert.deepEqual(none.map((p) => p.id), []);

    await rejects(client.pool.list({ poolListOptions: { filter: "id eq" } }), 400);
  });

  it("resize starts nodes; computeNode.list/get and listPoolNodeCounts see them; resize to 0 stops them", async () => {
    const res = await client.pool.resize(main, { targetDedicatedNodes: 2 });
    assert.equal(res._response.status, 202);
    const p = await client.pool.get(main);
    assert.equal(p.targetDedicatedNodes, 2);

    const nodes = await waitIdleNodes(client, main, 2);
    for (const nd of nodes) {
      assert.equal(nd.schedulingState, "enabled");
      assert.equal(nd.isDedicated, true);
      const got = await client.computeNode.get(main, nd.id);
      assert.equal(got.id, nd.id);
      assert.equal(got.state, "idle");
      assert.ok(got.url.endsWith(`/pools/${main}/nodes/${nd.id}`), got.url);
    }
    await rejects(client.computeNode.get(main, "tvm-missing"), 404, "NodeNotFound");

    const idle = await client.computeNode.list(main, { computeNodeListOptions: { filter: "state eq 'idle'" } });
    assertSameIds(idle.map((nd) => nd.id), nodes.map((nd) => nd.id), "state eq 'idle'");
    const running = await client.computeNode.list(main, { computeNodeListOptions: { filter: "state eq 'running'" } });
    assert.equal(running.length, 0);
    const firstNodes = await client.computeNode.list(main, { computeNodeListOptions: { maxResults: 1, select: "id,state" } });
    assert.equal(firstNodes.length, 1);
    const pagedNodes = await listAll(firstNodes, (link) => client.computeNode.listNext(link));
    assertSameIds(pagedNodes.items.map((nd) => nd.id), nodes.map((nd) => nd.id), "paged node list");
    assert.ok(pagedNodes.items.every((nd) => nd.vmSize === undefined), "$select carried to every page");

    const steady = await waitFor("pool steady with 2 nodes", async () => {
      const q = await client.pool.get(main);
      return q.allocationState === "steady" && q.currentDedicatedNodes === 2 ? q : null;
    });
    assert.equal(steady.currentLowPriorityNodes, 0);

    await waitDeepEqual("listPoolNodeCounts of the pool", async () => {
      const mine = (await client.account.listPoolNodeCounts()).find((c) => c.poolId === main);
      return mine && { idle: mine.dedicated.idle, total: mine.dedicated.total, lowPriority: mine.lowPriority.total };
    }, { idle: 2, total: 2, lowPriority: 0 });
    const only = await client.account.listPoolNodeCounts({ accountListPoolNodeCountsOptions: { filter: `poolId eq '${main}'` } });
    assert.deepEqual(only.map((c) => c.poolId), [main]);
    // Other test files add pools meanwhile: page over this file's pools only.
    const firstCounts = await client.account.listPoolNodeCounts({
      accountListPoolNodeCountsOptions: { filter: `startswith(poolId,'${prefix}-')`, maxResults: 1 },
    });
    assert.equal(firstCounts.length, 1);
    const pagedCounts = await listAll(firstCounts, (link) => client.account.listPoolNodeCountsNext(link));
    const mineNow = (await client.pool.list({ poolListOptions: { filter: `startswith(id,'${prefix}-')`, select: "id" } }))
      .map((p) => p.id);
    assertSameIds(pagedCounts.items.map((c) => c.poolId), mineNow, "paged node counts");

    await client.pool.resize(main, { targetDedicatedNodes: 0 });
    await waitFor("pool shrunk to 0 nodes", async () => {
      const [q, left] = await Promise.all([client.pool.get(main), client.computeNode.list(main)]);
      return q.currentDedicatedNodes === 0 && q.allocationState === "steady" && left.length === 0;
    });
  });

  it("If-Match with a stale ETag fails with 412 ConditionNotMet; the current one succeeds", async () => {
    const before = await client.pool.get(main);
    await client.pool.resize(main, { targetDedicatedNodes: 0, resizeTimeout: "PT10M" });
    // The scaler settles allocationState (resizing -> steady) right after a
    // resize, and that gives the pool a new ETag too: wait for it.
    const now = await waitSteady(main);
    assert.notEqual(now.eTag, before.eTag, "a mutation changes the ETag");

    await rejects(client.pool.resize(main, { targetDedicatedNodes: 0 }, { poolResizeOptions: { ifMatch: before.eTag } }),
      412, "ConditionNotMet");
    await rejects(client.pool.deleteMethod(main, { poolDeleteMethodOptions: { ifMatch: before.eTag } }),
      412, "ConditionNotMet");
    assert.equal((await client.pool.exists(main)).body, true, "a failed conditional delete deletes nothing");

    const ok = await client.pool.resize(main, { targetDedicatedNodes: 0 }, { poolResizeOptions: { ifMatch: now.eTag } });
    assert.equal(ok._response.status, 202);

    const after = await waitSteady(main);
    const past = new Date(after.lastModified.getTime() - 10000);
    await rejects(client.pool.resize(main, { targetDedicatedNodes: 0 }, { poolResizeOptions: { ifUnmodifiedSince: past } }),
      412, "ConditionNotMet");
    await rejects(client.pool.resize(main, { targetDedicatedNodes: 0 },
      { poolResizeOptions: { ifMatch: after.eTag, ifUnmodifiedSince: new Date() } }),
    400, "MultipleConditionHeadersNotSupported");
    // A conditional read of an unchanged pool answers 304, which the SDK reports as an error.
    await rejects(client.pool.get(main, { poolGetOptions: { ifNoneMatch: after.eTag } }), 304);
    assert.equal((await client.pool.get(main, { poolGetOptions: { ifMatch: after.eTag } })).id, main);
  });

  it("delete answers 202 and the pool goes away", async () => {
    const id = `${prefix}-del`;
    await addPool(id, { targetDedicatedNodes: 1 });
    await waitIdleNodes(client, id, 1);
    const res = await client.pool.deleteMethod(id);
    assert.equal(res._response.status, 202);
    await waitFor(`pool ${id} gone`, async () => (await client.pool.exists(id)).body === false);
    await rejects(client.pool.get(id), 404, "PoolNotFound");
    const listed = await client.pool.list({ poolListOptions: { filter: `id eq '${id}'` } });
    assert.equal(listed.length, 0);
  });
});
