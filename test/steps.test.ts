// The deploy path of a version bump, counted on the resource graph: at most four dependent remote
// steps per host (image present, container started, proxy switched or readiness, then the image
// prune), hosts in parallel within a boot group.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runIndex, stackConfig } from "./harness";
import { deployPath, maxStepsPerHost } from "../scripts/bench/steps";
import { generatedStack } from "../scripts/bench/stacks";

const bump = (c: Record<string, unknown>) => (c["berth:version"] = "2026.11.2");

describe("deploy path", () => {
  it("production: four dependent remote steps per host, one host at a time (boot.limit 1)", async () => {
    const before = (await runIndex("production", stackConfig("production"))).resources;
    const after = (await runIndex("production", stackConfig("production", bump))).resources;
    const path = deployPath(before, after);
    assert.deepEqual(Object.keys(path.hosts).sort(), ["db-1", "job-1", "web-1", "web-2"]);
    assert.equal(maxStepsPerHost(path), 4);
    // The opt-in backup of the database runs once, before any new container starts.
    assert.deepEqual(path.hosts["db-1"].chain, ["myapp-db-db-1-backup"]);
    assert.deepEqual(path.hosts["web-1"].chain, [
      "myapp-web-1-2026.11.2-image",
      "myapp-web-web-1-2026.11.2-assets",
      "myapp-web-web-1-route",
      // After the switch, so it never removes an image the host is about to need.
      "myapp-web-1-prune",
    ]);
    assert.deepEqual(path.waves, [["db-1"], ["web-1"], ["web-2"], ["job-1"]], "backup, then one app host at a time");
    // The backup runs beside the first host's image pull, and a host's prune beside the next
    // host's deploy: only the last host's prune lengthens the path.
    assert.equal(path.critical.length, 10);
  });

  it("a generated stack boots a quarter of its hosts at once, each host still in four steps", async () => {
    const before = (await runIndex("production", generatedStack(8))).resources;
    const after = (await runIndex("production", generatedStack(8, bump))).resources;
    const path = deployPath(before, after);
    assert.equal(Object.keys(path.hosts).length, 8);
    assert.equal(maxStepsPerHost(path), 4);
    assert.deepEqual(
      path.waves.map((w) => w.length),
      [2, 2, 2, 2],
    );
  });

  it("places every step of a 20-host stack on its own host: four boot groups of five", async () => {
    // Each mocked server has an address of its own within a render; two hosts sharing one put a
    // host's steps on the other and showed a fifth wave of one host.
    const before = (await runIndex("production", generatedStack(20))).resources;
    const after = (await runIndex("production", generatedStack(20, bump))).resources;
    const path = deployPath(before, after);
    assert.equal(Object.keys(path.hosts).length, 20);
    assert.deepEqual(
      path.waves.map((w) => w.length),
      [5, 5, 5, 5],
    );
  });

  it("an unchanged version runs no remote step", async () => {
    const same = (await runIndex("production", stackConfig("production"))).resources;
    const path = deployPath(same, same);
    assert.equal(maxStepsPerHost(path), 0);
    assert.deepEqual(path.waves, []);
  });
});
