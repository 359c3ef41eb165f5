// Stack tier for deploys: what a version bump changes on the real example stacks (that no secret
// leaves Pulumi's secret envelope is the secrets audit's, test/guard/secrets.test.ts).
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { diffRenders, Recorded, RenderDiff, runIndex, stackConfig, versionBump } from "../support/harness";

const VERSIONED = /-(ready|assets|image)$|^myapp-[a-z]+-[a-z0-9-]+-2026\.11\.\d-[0-9a-f]{8}$/;
const RERUN_EACH_DEPLOY =
  /^myapp-(pre-deploy|post-deploy|pre-app-boot(-\d+)?|post-app-boot(-\d+)?|boot-wait-\d+|[a-z0-9-]+-prune|[a-z0-9-]+-backup|[a-z]+-[a-z0-9-]+-(route|maintenance))$/;

for (const stack of ["staging", "production"]) {
  describe(`${stack}: a version bump`, () => {
    let diff: RenderDiff;
    before(async () => {
      const { before, after } = await versionBump(stack);
      diff = diffRenders(before, after);
    });

    it("creates the new version's images and containers, deletes the old ones", () => {
      assert.ok(diff.created.length > 0);
      for (const r of [...diff.created, ...diff.deleted]) {
        assert.match(r.name, VERSIONED, `${r.type} ${r.name} must be a versioned app step`);
        assert.ok(r.type.startsWith("docker:") || r.type.startsWith("command:remote"), `${r.type} ${r.name}`);
      }
      const names = (rs: Recorded[], v: string) => rs.map((r) => r.name.replace(v, "V")).sort();
      assert.deepEqual(names(diff.created, "2026.11.2"), names(diff.deleted, "2026.11.1"));
      assert.ok(diff.created.some((r) => r.name.endsWith("-image")));
      assert.ok(diff.created.every((r) => !r.name.startsWith("kamal-proxy") && !/-proxy-/.test(r.name)));
    });

    it("switches the routes, re-runs only the per-deploy steps (hooks, prune, maintenance), touches no infrastructure", () => {
      for (const r of diff.changed) {
        assert.match(r.name, RERUN_EACH_DEPLOY, `${r.type} ${r.name} must not change on a version bump`);
      }
      assert.ok(diff.changed.some((r) => r.name === "myapp-pre-deploy"));
      assert.ok(diff.changed.some((r) => r.name.endsWith("-route") && r.inputs.create.includes("2026.11.2-")));
      const untouched = diff.same.map((r) => r.type);
      for (const type of [
        "hcloud:index/server:Server",
        "hcloud:index/firewall:Firewall",
        "hcloud:index/zoneRrset:ZoneRrset",
        "pulumi:providers:docker",
        "command:remote:Command",
      ]) {
        assert.ok(untouched.includes(type), `${type} stays as it is`);
      }
      const touched = [...diff.created, ...diff.deleted, ...diff.changed];
      assert.ok(
        touched.every((r) => !r.type.startsWith("hcloud:")),
        "no Hetzner resource changes",
      );
      assert.ok(
        touched.every((r) => !r.name.endsWith("-ready") || r.name.startsWith("myapp-")),
        "no readiness gate re-runs",
      );
    });
  });
}

const APP_CHANGES: [string, (stack: string, c: Record<string, any>) => void][] = [
  ["an env value", (_s, c) => (c["berth:env"].clear.RAILS_LOG_TO_STDOUT = "0")],
  ["a rotated app secret", (_s, c) => (c["berth:secrets"].RAILS_MASTER_KEY += "-rotated")],
  ["a run option", (_s, c) => (c["berth:servers"].web.options = { memory: "1g" })],
];

for (const stack of ["staging", "production"]) {
  describe(`${stack}: a change to what the app runs is deployed like a new version`, () => {
    for (const [what, change] of APP_CHANGES) {
      it(`${what}: new containers beside the old, routes switched, hooks and the backup run, old ones deleted`, async () => {
        const before = (await runIndex(stack, stackConfig(stack))).resources;
        const after = (
          await runIndex(
            stack,
            stackConfig(stack, (c) => change(stack, c)),
          )
        ).resources;
        const diff = diffRenders(before, after);
        const isContainer = (r: Recorded) => r.type === "docker:index/container:Container";
        // pulumi-docker replaces a docker_container delete-first (provider/resources.go): a container
        // changed in place would stop before its successor exists.
        assert.deepEqual(
          diff.changed.filter(isContainer).map((r) => r.name),
          [],
        );
        const web = (rs: Recorded[]) => rs.filter((r) => isContainer(r) && r.name.startsWith("myapp-web-"));
        assert.ok(web(diff.created).length > 0);
        assert.equal(web(diff.created).length, web(diff.deleted).length);
        for (const r of [...diff.created, ...diff.deleted])
          assert.ok(isContainer(r) || r.name.endsWith("-ready"), `${r.type} ${r.name}: only containers come and go`);
        // A role without proxy waits for its new container (the same step, run again).
        for (const r of diff.changed.filter((r) => !/^myapp-job-job-1-[^-]+-ready$/.test(r.name)))
          assert.match(r.name, RERUN_EACH_DEPLOY, `${r.type} ${r.name} must not change for ${what}`);
        for (const step of ["myapp-pre-deploy", "myapp-post-deploy"])
          assert.ok(
            diff.changed.some((r) => r.name === step),
            `${step} runs`,
          );
        assert.ok(
          diff.changed.some((r) => r.name.endsWith("-backup")),
          "the pre-deploy backup runs",
        );
        assert.ok(
          diff.changed.some((r) => r.name === "myapp-web-web-1-route" || r.name === "myapp-web-staging-1-route"),
        );
      });
    }
  });
}
