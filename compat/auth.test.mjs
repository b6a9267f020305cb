// SharedKey authentication as the official SDK signs it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BatchServiceClient, BatchSharedKeyCredentials } from "@azure/batch";
import { newClient, target, uid, wrongKey, rejects } from "./helpers.mjs";

const client = newClient();

describe("SharedKey authentication", () => {
  it("a client with a wrong key gets 403 AuthenticationFailed and changes nothing", async () => {
    const bad = newClient(wrongKey());
    const id = uid("cauth");
    await rejects(bad.pool.add({ id, vmSize: "standard_d2s_v3" }), 403, "AuthenticationFailed");
    await rejects(bad.pool.list(), 403, "AuthenticationFailed");
    await rejects(bad.job.get("any"), 403, "AuthenticationFailed");
    await rejects(bad.job.terminate("any"), 403, "AuthenticationFailed");
    // HEAD answers carry no body, so the SDK has no code to show.
    await rejects(bad.pool.exists(id), 403);
    assert.equal((await client.pool.exists(id)).body, false, "the refused add created nothing");
  });

  it("an unknown account gets 403 AuthenticationFailed", async () => {
    const t = target();
    const other = new BatchServiceClient(new BatchSharedKeyCredentials(`${t.account}x`, t.key), t.url);
    await rejects(other.pool.list(), 403, "AuthenticationFailed");
  });

  it("ocp-date: a few minutes old is accepted (SDK retries replay it), 20 minutes off is refused", async () => {
    const at = (min) => ({ poolListOptions: { ocpDate: new Date(Date.now() + min * 60 * 1000) } });
    assert.equal((await client.pool.list(at(-4)))._response.status, 200);
    await rejects(client.pool.list(at(-20)), 403, "AuthenticationFailed");
    await rejects(client.pool.list(at(20)), 403, "AuthenticationFailed");
  });

  it("signs $filter values with characters that need escaping", async () => {
    const res = await client.pool.list({
      poolListOptions: { filter: "id eq 'a+b&c=d ü' or startswith(id,'%27x')" },
    });
    assert.deepEqual([...res], []);
  });
});
