// The deploy path of a version bump, counted on the resource graph: at most three dependent remote
// steps per host (image present, container started, proxy switched or readiness), hosts in
// parallel within a boot group.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runIndex, stackConfig } from "./harness";
import { deployPath, maxStepsPerHost } from "../scripts/bench/steps";
import { generatedStack } from "../scripts/bench/stacks";

const bump = (c: Record<string, unknown>) => (c["berth:version"] = "2026.11.2");

describe("deploy path", () => {
  it("production: three dependent remote steps per host, one host at a time (boot.limit 1)", async () => {
    const before = (await runIndex("production", stackConfig("production"))).resources;
    const after = (await runIndex("production", stackConfig("production", bump))).resources;
    const path = deployPath(before, after);
    assert.deepEqual(Object.keys(path.hosts).sort(), ["db-1", "job-1", "web-1", "web-2"]);
    assert.equal(maxStepsPerHost(path), 3);
    // The opt-in backup of the database runs once, before any new container starts.
    assert.deepEqual(path.hosts["db-1"].chain, ["myapp-db-db-1-backup"]);
    assert.deepEqual(path.hosts["web-1"].chain, [
      "myapp-web-1-2026.11.2-image",
      "myapp-web-web-1-2026.11.2-assets",
      "myapp-web-web-1-route",
    ]);
    assert.deepEqual(path.waves, [["db-1"], ["web-1"], ["web-2"], ["job-1"]], "backup, then one app host at a time");
    // The backup runs beside the first host's image pull, so it does not lengthen the path.
    assert.equal(path.critical.length, 9);
  });

  it("a generated stack boots a quarter of its hosts at once, each host still in three steps", async () => {
    const before = (await runIndex("production", generatedStack(8))).resources;
    const after = (await runIndex("production", generatedStack(8, bump))).resources;
    const path = deployPath(before, after);
    assert.equal(Object.keys(path.hosts).length, 8);
    assert.equal(maxStepsPerHost(path), 3);
    assert.deepEqual(
      path.waves.map((w) => w.length),
      [2, 2, 2, 2],
    );
  });

  it("an unchanged version runs no remote step", async () => {
    const same = (await runIndex("production", stackConfig("production"))).resources;
    const path = deployPath(same, same);
    assert.equal(maxStepsPerHost(path), 0);
    assert.deepEqual(path.waves, []);
  });
});
