// Progressive delivery in the mock tier: a traffic canary beside the current version (kamal-proxy's
// rollout target, the exact v0.9.2 command lines), a host canary held on its hosts, verification
// steps after the switch, and what the next `pulumi up` does after promote or abort.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { diffRenders, named, Recorded, runIndex, stackConfig, transitiveDependencies } from "../support/harness";
import { shellcheck } from "../support/validate";

type Change = (c: Record<string, unknown>) => void;
const render = async (change?: Change) => (await runIndex("production", stackConfig("production", change))).resources;
const version = (c: Record<string, unknown>) => c["berth:version"] as string;
const containers = (rs: Recorded[]) =>
  rs.filter((r) => r.type === "docker:index/container:Container").map((r) => r.inputs.name as string);

const trafficCanary: Change = (c) => {
  c["berth:canary"] = "2026.11.2";
  c["berth:rollout"] = { percent: 10, allowlist: ["staff-1", "staff-2"] };
};
const hostCanary: Change = (c) => {
  c["berth:canary"] = "2026.11.2";
  c["berth:rollout"] = { strategy: "hosts", hosts: ["web-2"] };
};

describe("traffic canary", () => {
  it("runs the canary beside the current version as kamal-proxy's rollout target, with v0.9.2's flags", async () => {
    const rs = await render(trafficCanary);
    const step = named(rs, "myapp-web-web-1-rollout");
    const create = step.inputs.create as string;
    const canary = containers(rs).find((n) => n.includes("2026.11.2") && n.includes("web"))!;
    assert.ok(canary, "a canary container of the web role");
    // internal/cmd/rollout_deploy.go and rollout_set.go of kamal-proxy v0.9.2.
    assert.ok(
      create.includes(
        `docker exec kamal-proxy kamal-proxy rollout deploy myapp-web-production --target=${canary}:80 --deploy-timeout=30s --drain-timeout=30s`,
      ),
      create,
    );
    assert.ok(
      create.includes(
        `docker exec kamal-proxy kamal-proxy rollout set myapp-web-production --percent=10 --list=staff-1,staff-2`,
      ),
      create,
    );
    assert.equal(step.inputs.delete, "docker exec kamal-proxy kamal-proxy rollout stop myapp-web-production || true\n");
    shellcheck("rollout-create", create);
    // After the route (the service must exist), on every web host; the job role gets no canary.
    assert.ok(transitiveDependencies(rs, step).has(named(rs, "myapp-web-web-1-route").urn));
    named(rs, "myapp-web-web-2-rollout");
    assert.ok(!rs.some((r) => r.name.startsWith("myapp-job-job-1-rollout")));
    assert.ok(!containers(rs).some((n) => n.includes("job") && n.includes("2026.11.2")));
    // The route still serves the current version.
    const route = named(rs, "myapp-web-web-1-route").inputs.create as string;
    assert.ok(!route.includes("2026.11.2"), route);
  });

  it("promote: the next up switches the route to the canary's container, keeps it, and stops the split", async () => {
    const running = await render(trafficCanary);
    const promoted = await render((c) => {
      c["berth:version"] = "2026.11.2";
    });
    const diff = diffRenders(running, promoted);
    const canary = containers(running).filter((n) => n.includes("web") && n.includes("2026.11.2"));
    // The canary container is the promoted version's container: same logical name, not replaced.
    for (const name of canary) assert.ok(containers(promoted).includes(name));
    assert.ok(!diff.deleted.some((r) => canary.includes(r.inputs.name as string)), "canary container kept");
    assert.ok(
      diff.changed.some((r) => r.name === "myapp-web-web-1-route"),
      "route switches",
    );
    assert.ok(
      diff.deleted.some((r) => r.name === "myapp-web-web-1-rollout"),
      "rollout step deleted: rollout stop",
    );
  });

  it("abort: the next up without berth:canary stops the split, then deletes the canary; the route is untouched", async () => {
    const running = await render(trafficCanary);
    const aborted = await render();
    const diff = diffRenders(running, aborted);
    assert.ok(diff.deleted.some((r) => r.name === "myapp-web-web-1-rollout"));
    assert.ok(diff.deleted.some((r) => (r.inputs.name as string | undefined)?.includes("2026.11.2")));
    assert.ok(!diff.changed.some((r) => r.name.endsWith("-route")), "no route switches");
    // The rollout step depends on the canary container, so Pulumi deletes the step (rollout stop)
    // before the container: no request is ever sent to a removed container.
    const step = named(running, "myapp-web-web-1-rollout");
    const canary = running.find((r) => r.name.startsWith("myapp-web-web-1-2026.11.2-") && r.type.startsWith("docker:"));
    assert.ok(canary && step.dependencies.includes(canary.urn));
  });

  it("refuses a canary equal to the version, strategy hosts without hosts, and a host canary on every host of a role", async () => {
    await assert.rejects(
      render((c) => (c["berth:canary"] = version(c))),
      /berth:canary.*is the version deployed/s,
    );
    await assert.rejects(
      render((c) => {
        c["berth:canary"] = "2026.11.2";
        c["berth:rollout"] = { strategy: "hosts" };
      }),
      /rollout\.hosts.*required for strategy hosts/s,
    );
    await assert.rejects(
      render((c) => {
        c["berth:canary"] = "2026.11.2";
        c["berth:rollout"] = { strategy: "hosts", hosts: ["web-1", "web-2"] };
      }),
      /names every host of role web/,
    );
  });
});

describe("host canary", () => {
  it("runs the canary alone on its hosts, whose route serves it, and the current version elsewhere", async () => {
    const rs = await render(hostCanary);
    const r2 = named(rs, "myapp-web-web-2-route").inputs.create as string;
    const r1 = named(rs, "myapp-web-web-1-route").inputs.create as string;
    assert.match(r2, /--target=myapp-web-production-2026\.11\.2-/);
    assert.doesNotMatch(r1, /2026\.11\.2/);
    assert.ok(!rs.some((r) => r.name.endsWith("-rollout")), "no kamal-proxy rollout for a host canary");
    // Held there: a second render with the same settings changes nothing on web-1.
    const again = diffRenders(rs, await render(hostCanary));
    assert.equal(again.changed.length + again.created.length + again.deleted.length, 0);
  });

  it("promote moves the other hosts and leaves the canary host as it is; abort moves the canary host back", async () => {
    const running = await render(hostCanary);
    const promoted = diffRenders(running, await render((c) => (c["berth:version"] = "2026.11.2")));
    const changedRoutes = promoted.changed.filter((r) => r.name.endsWith("-route")).map((r) => r.name);
    assert.deepEqual(changedRoutes, ["myapp-web-web-1-route"]);
    const aborted = diffRenders(running, await render());
    assert.deepEqual(
      aborted.changed.filter((r) => r.name.endsWith("-route")).map((r) => r.name),
      ["myapp-web-web-2-route"],
    );
  });
});

describe("verification after the switch", () => {
  it("checks each host after its switch, before the next boot group, with the route and the canary cookie", async () => {
    const rs = await render((c) => {
      trafficCanary(c);
      c["berth:verify"] = { window: 20, interval: 5, command: "bin/smoke-test" };
    });
    const verify = named(rs, "myapp-web-web-1-verify");
    const script = verify.inputs.create as string;
    shellcheck("verify", script);
    assert.match(script, /curl -fsS/);
    assert.match(script, /Cookie: kamal-rollout=staff-1/);
    assert.ok(transitiveDependencies(rs, verify).has(named(rs, "myapp-web-web-1-rollout").urn));
    // web-2 boots only after web-1 passed its checks.
    const web2 = rs.find(
      (r) =>
        r.type === "docker:index/container:Container" &&
        (r.inputs.name as string).startsWith("myapp-web-production-2026.11.1") &&
        r.name.includes("web-2"),
    )!;
    assert.ok(transitiveDependencies(rs, web2).has(verify.urn));
    const command = named(rs, "myapp-verify");
    shellcheck("verify-command", command.inputs.create as string);
    assert.ok(transitiveDependencies(rs, named(rs, "myapp-post-deploy")).has(command.urn));
  });
});
