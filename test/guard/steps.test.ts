// The deploy path of a version bump, counted on the resource graph: at most four dependent remote
// steps per host (image present, container started, proxy switched or readiness, then the image
// prune), every host's pull first and at once, hosts in parallel within a boot group.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runIndex, stackConfig, versionBump } from "../support/harness";
import {
  bumpPath,
  deployPath,
  documentedTable,
  maxStepsPerHost,
  pathTable,
  PathRow,
  tableRows,
} from "../../guard/steps";
import { generatedStack } from "../../plan/stacks";

const bump = (c: Record<string, unknown>) => (c["berth:version"] = "2026.11.2");

describe("deploy path", () => {
  it("production: four dependent remote steps per host, one pull on the critical path (boot.limit 1)", async () => {
    const { before, after } = await versionBump("production");
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
    assert.deepEqual(path.waves, [["db-1", "web-1"], ["web-2"], ["job-1"]], "one app host at a time");
    // Every host pulls before the first boots: the path holds one pull, then two steps per boot
    // group (container or asset copy, then the switch or readiness wait) and the last prune.
    assert.equal(path.criticalPulls, 1);
    assert.equal(path.critical.length, 1 + 2 * 3 + 1);
    assert.equal(path.critical.filter((s) => s.endsWith("-image")).length, 1);
  });

  it("generated stacks: one pull on the critical path whatever the number of boot groups, as documented", async () => {
    const rows: PathRow[] = [];
    for (const [hosts, limit, groups] of [
      [1, 1, 1],
      [1, "25%", 1],
      [10, 1, 10],
      [10, "25%", 4],
    ] as const) {
      const path = await bumpPath(hosts, limit);
      assert.equal(path.waves.length, groups, `${hosts} hosts, boot.limit ${limit}: boot groups`);
      assert.equal(path.criticalPulls, 1, `${hosts} hosts, boot.limit ${limit}: pulls on the critical path`);
      assert.equal(path.critical.length, 2 + 2 * groups, `${hosts} hosts, boot.limit ${limit}: critical path`);
      assert.equal(maxStepsPerHost(path), 4);
      if (hosts === 10 && limit === "25%")
        assert.deepEqual(
          path.waves.map((w) => w.length),
          [3, 3, 3, 1],
        );
      rows.push({ hosts, limit, groups, pulls: path.criticalPulls, critical: path.critical.length });
    }
    // docs/performance.md shows these rows and the 100-host ones (scripts/bench/steps.ts --write, from guard/steps.ts).
    const documented = tableRows(documentedTable());
    for (const row of tableRows(pathTable(rows))) assert.ok(documented.includes(row), row);
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
