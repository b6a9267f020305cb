// Applications (application.list, application.get) through the official SDK.
// compat_test.go publishes the packages first (Azure does that through ARM):
// compat-app-a "Compat App A" with versions 1.0 and 2.0, compat-app-b with 1.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { newClient, listAll, rejects } from "./helpers.mjs";

const client = newClient();

function summary(a) {
  return { id: a.id, displayName: a.displayName, versions: [...a.versions] };
}

describe("applications", () => {
  it("lists every application, one page at a time", async () => {
    const first = await client.application.list({ applicationListOptions: { maxResults: 1 } });
    assert.equal(first.length, 1);
    const { items, pages } = await listAll(first, (link) => client.application.listNext(link));
    assert.ok(pages >= 2, "maxResults 1 gives several pages");
    const byId = Object.fromEntries(items.map((a) => [a.id, summary(a)]));
    assert.deepEqual(byId["compat-app-a"], { id: "compat-app-a", displayName: "Compat App A", versions: ["1.0", "2.0"] });
    assert.deepEqual(byId["compat-app-b"].versions, ["1"]);
  });

  it("gets one application", async () => {
    const a = await client.application.get("compat-app-a");
    assert.deepEqual(summary(a), { id: "compat-app-a", displayName: "Compat App A", versions: ["1.0", "2.0"] });
    const b = await client.application.get("COMPAT-APP-B"); // ids are case-insensitive
    assert.equal(b.id, "compat-app-b");
  });

  it("reports ApplicationNotFound", async () => {
    await rejects(client.application.get("no-such-app"), 404, "ApplicationNotFound");
  });
});
