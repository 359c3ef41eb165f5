// Longer than 400 lines: every sequence plays on the same rendered stacks and shared first deploys, which are costly to render, so they stay in one process.
// Lifecycle tier: sequences of updates on the real example stacks. Each configuration is rendered
// once through the entry Pulumi.yaml names; the steps Pulumi's engine would run are planned from
// the state the previous update left (guard/lifecycle.ts, rules in guard/engine.ts) and played
// against a simulated Hetzner project, its machines, Docker and kamal-proxy (guard/world.ts), with
// the invariants checked after every step. What this tier cannot prove: that the providers behave
// as the rules table says at the versions installed, or anything about timing; Pulumi runs
// independent steps in parallel, the simulation plays them in one fixed order.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  applyUpdate,
  cloneWorld,
  describeProblems,
  describeStep,
  emptyWorld,
  planUpdate,
  served,
  StateResource,
  Step,
  update,
  UpdateResult,
  volatileInputs,
  World,
} from "../../guard/lifecycle";
import { fileWrite, mountPaths, passwordChange, proxyActions } from "../../guard/effects";
import { rolloutScript, rolloutStopScript } from "../../components/commands/rollout";
import { ResolvedProxy } from "../../config/schema";
import { bumpVersion, Recorded, runIndex, stackConfig } from "../support/harness";

type Change = (c: Record<string, any>) => void;
const INJECTED = "injected failure";

const renders = new Map<string, Recorded[]>();
/** Renders a configuration once per key and reuses it. */
async function render(stack: string, key: string, change?: Change): Promise<Recorded[]> {
  const id = `${stack}/${key}`;
  if (!renders.has(id)) renders.set(id, (await runIndex(stack, stackConfig(stack, change))).resources);
  return renders.get(id)!;
}

const volatile = new Map<string, Map<string, string[]>>();
/** The base render of a stack, and which of its inputs change on every run of the program. */
async function base(stack: string): Promise<Recorded[]> {
  const first = await render(stack, "base");
  if (!volatile.has(stack)) {
    const again = (await runIndex(stack, stackConfig(stack))).resources;
    volatile.set(stack, volatileInputs(first, again));
  }
  return first;
}

/** One Hetzner project: its world and each stack's state, updated by `up`. */
class Project {
  world: World = emptyWorld();
  states = new Map<string, StateResource[]>();
  history: UpdateResult[] = [];

  /** Plays an update of `stack` (a stack name, or `app/stack` for another app's stack). */
  up(stack: string, program: Recorded[], opts: Parameters<typeof update>[4] = {}): UpdateResult {
    const result = update(this.world, stack, this.states.get(stack) ?? [], program, {
      changed: volatile.get(stack),
      ...opts,
    });
    this.states.set(stack, result.state);
    this.history.push(result);
    return result;
  }

  fork(): Project {
    const p = new Project();
    p.world = cloneWorld(this.world);
    p.states = new Map(this.states);
    return p;
  }
}

/** Every problem of the updates played, except failures injected on purpose. */
function problems(results: UpdateResult[]): string[] {
  return results.flatMap((r) =>
    describeProblems(r)
      .filter((line) => !(r.failed?.reason === INJECTED && line.startsWith("failed at")))
      .map((line) => `${r.stack}: ${line}`),
  );
}

function assertClean(...results: UpdateResult[]): void {
  assert.deepEqual(problems(results), [], "the invariants hold at every step and every update completes");
}

/** The database accepts the password the stack's config holds now. */
function assertDatabasePassword(w: World, stack: string, change?: Change): void {
  const password = JSON.parse(stackConfig(stack, change).config["berth:secrets"]).POSTGRES_PASSWORD;
  if (password === undefined) return;
  const databases = [...w.databases.values()];
  assert.equal(databases.length, 1, "one database");
  assert.equal(databases[0].password, password, "the database accepts the configured password");
}

const failAt = (match: (s: Step) => boolean) => (s: Step) => (match(s) ? INJECTED : undefined);
const named = (name: string, op?: string) => (s: Step) => s.name === name && (!op || s.op === op);

const bump: Change = bumpVersion;
const addWebHost =
  (host: string): Change =>
  (c) => {
    c["berth:hosts"][host] = { serverType: "cx23", location: "fsn1" };
    c["berth:servers"].web.hosts.push(host);
  };

/** A project where `stack` had its first deploy, for each scenario to fork. */
const deployed = new Map<string, Project>();
async function firstDeploy(stack: string): Promise<Project> {
  if (!deployed.has(stack)) {
    const p = new Project();
    p.up(stack, await base(stack));
    deployed.set(stack, p);
  }
  return deployed.get(stack)!.fork();
}

/**
 * From production's first deploy, the update to `next` failing at each of its steps in turn, each
 * followed by an update back to the base config (berth rollback, or abort for a canary); the
 * problems either update showed, per failing step.
 */
async function failEachStep(next: Recorded[], check?: (w: World, k: number) => void) {
  const start = await firstDeploy("production");
  const plan = planUpdate(start.states.get("production")!, next, { changed: volatile.get("production") });
  const broken: string[] = [];
  let tried = 0;
  for (let k = 0; k < plan.length; k++) {
    if (plan[k].op === "same") continue;
    tried++;
    const p = start.fork();
    const failed = applyUpdate(p.world, "production", p.states.get("production")!, next, plan, {
      fail: (_s, i) => (i === k ? INJECTED : undefined),
    });
    p.states.set("production", failed.state);
    const back = p.up("production", await base("production"));
    const found = problems([failed, back]);
    if (found.length) broken.push(`failing at step ${k} (${describeStep(plan[k])}): ${found[0]}`);
    check?.(p.world, k);
  }
  return { tried, broken };
}

describe("lifecycle: first deploy and version bumps", () => {
  for (const stack of ["production", "staging"]) {
    it(`${stack}: a first deploy creates everything in dependency order and routes every web host`, async () => {
      const p = new Project();
      const r = p.up(stack, await base(stack));
      assertClean(r);
      assert.ok(r.steps.every((s) => s.op === "create"));
      assertDatabasePassword(p.world, stack);
      const routes = served(p.world);
      assert.ok(routes.length >= 1);
      for (const route of routes) {
        assert.ok(route.running, `${route.host} serves ${route.target}`);
        assert.match(route.target, /-2026\.11\.1\b/);
      }
    });

    it(`${stack}: a version bump switches every host to the new version, then deletes the old`, async () => {
      const p = await firstDeploy(stack);
      const r = p.up(stack, await render(stack, "bump", bump));
      assertClean(r);
      for (const route of served(p.world)) assert.ok(route.running && route.target.includes("-2026.11.2"), route.host);
      const lastCreate = r.steps.map((s) => s.op).lastIndexOf("create");
      const firstOldDelete = r.steps.findIndex(
        (s) => s.op === "delete" && s.type === "docker:index/container:Container",
      );
      assert.ok(firstOldDelete > lastCreate, "old containers go only after every new one serves");
    });
  }

  it("a version bump rolled back (another update) returns every host to the old version", async () => {
    const p = await firstDeploy("production");
    p.up("production", await render("production", "bump", bump));
    const back = p.up("production", await base("production"));
    assertClean(...p.history.slice(-2));
    // Each host's route step (one per role and host) switches back: its state names the new container.
    assert.ok(back.steps.some((s) => s.op === "update" && s.name === "myapp-web-web-1-route"));
    for (const route of served(p.world)) assert.ok(route.running && route.target.includes("-2026.11.1"), route.host);
  });
});

describe("lifecycle: changes to what app containers run", () => {
  const cases: [string, string, Change][] = [
    ["production", "an env value changes", (c) => (c["berth:env"].clear.RAILS_LOG_TO_STDOUT = "0")],
    ["staging", "an env value changes", (c) => (c["berth:env"].clear.RAILS_LOG_TO_STDOUT = "0")],
    ["production", "the app secret is rotated", (c) => (c["berth:secrets"].RAILS_MASTER_KEY += "-rotated")],
    ["staging", "the app secret is rotated", (c) => (c["berth:secrets"].RAILS_MASTER_KEY += "-rotated")],
    ["production", "POSTGRES_PASSWORD is rotated", (c) => (c["berth:secrets"].POSTGRES_PASSWORD += "-rotated")],
  ];
  for (const [stack, title, change] of cases) {
    it(`${stack}: when ${title}, every host keeps serving and the app reaches its database`, async () => {
      const p = await firstDeploy(stack);
      p.up(stack, await render(stack, title, change));
      assertClean(...p.history);
      for (const route of served(p.world)) assert.ok(route.running, `${route.host} serves ${route.target}`);
      assertDatabasePassword(p.world, stack, change);
    });
  }
});

describe("lifecycle: failed updates and berth rollback", () => {
  it("production: a failed health check on the second web host, then berth rollback, keeps both hosts serving", async () => {
    const p = await firstDeploy("production");
    const failed = p.up("production", await render("production", "bump", bump), {
      fail: failAt(named("myapp-web-web-2-route", "update")),
    });
    assert.equal(failed.failed?.reason, INJECTED, "the update failed where the health check failed");
    p.up("production", await base("production"));
    assertClean(...p.history);
    for (const route of served(p.world)) assert.ok(route.running && route.target.includes("-2026.11.1"), route.host);
  });

  for (const stack of ["production", "staging"]) {
    it(`${stack}: a failure after the switch (post-deploy hook), then berth rollback, keeps serving`, async () => {
      const p = await firstDeploy(stack);
      const failed = p.up(stack, await render(stack, "bump", bump), { fail: failAt(named("myapp-post-deploy")) });
      assert.equal(failed.failed?.step.name, "myapp-post-deploy");
      p.up(stack, await base(stack));
      assertClean(...p.history);
      for (const route of served(p.world)) assert.ok(route.running && route.target.includes("-2026.11.1"), route.host);
    });
  }

  it("production: a failure at any step of a version bump, then berth rollback, keeps serving", async () => {
    const { tried, broken } = await failEachStep(await render("production", "bump", bump));
    assert.ok(tried > 40, "every step of the bump was tried");
    assert.deepEqual(broken, []);
  });

  it("production: the next update after a failed one completes what the failed one started", async () => {
    const p = await firstDeploy("production");
    const next = await render("production", "bump", bump);
    p.up("production", next, { fail: failAt(named("myapp-web-web-2-route", "update")) });
    const retry = p.up("production", next);
    assertClean(retry);
    // web-2's route step failed, so its state still names the old container: it runs again.
    assert.ok(retry.steps.some((s) => s.op === "update" && s.name === "myapp-web-web-2-route"));
    assert.ok(!retry.steps.some((s) => s.op === "update" && s.name === "myapp-web-web-1-route"));
    for (const route of served(p.world)) assert.ok(route.running && route.target.includes("-2026.11.2"), route.host);
  });
});

describe("lifecycle: canaries, verification and automatic rollback", () => {
  const withVerify: Change = (c) => (c["berth:verify"] = { window: 10 });
  const traffic: Change = (c) => {
    c["berth:canary"] = "2026.11.2";
    c["berth:rollout"] = { percent: 10, allowlist: ["staff-1"] };
  };
  const hosts: Change = (c) => {
    c["berth:canary"] = "2026.11.2";
    c["berth:rollout"] = { strategy: "hosts", hosts: ["web-2"] };
  };
  const splits = (w: World) =>
    [...w.machines.values()].flatMap((m) =>
      [...m.rollouts].filter(([, r]) => r.split).map(([service, r]) => ({ host: m.label, service, ...r })),
    );

  it("production: a traffic canary, then promote: every step serves, the split runs on a running canary", async () => {
    const p = await firstDeploy("production");
    p.up("production", await render("production", "traffic canary", traffic));
    assertClean(...p.history);
    for (const route of served(p.world)) assert.ok(route.running && route.target.includes("-2026.11.1"), route.host);
    const split = splits(p.world);
    assert.equal(split.length, 2, "a split on both web hosts");
    for (const r of split) assert.match(r.target, /-2026\.11\.2-/);
    p.up("production", await render("production", "bump", bump));
    assertClean(...p.history);
    for (const route of served(p.world)) assert.ok(route.running && route.target.includes("-2026.11.2"), route.host);
    assert.deepEqual(splits(p.world), [], "promoted: rollout stopped");
  });

  it("production: a traffic canary, then abort: the split stops before the canary goes; the version keeps serving", async () => {
    const p = await firstDeploy("production");
    p.up("production", await render("production", "traffic canary", traffic));
    const abort = p.up("production", await base("production"));
    assertClean(...p.history);
    assert.deepEqual(splits(p.world), []);
    for (const route of served(p.world)) assert.ok(route.running && route.target.includes("-2026.11.1"), route.host);
    const stop = abort.steps.findIndex((s) => s.op === "delete" && s.name === "myapp-web-web-1-rollout");
    const gone = abort.steps.findIndex(
      (s) =>
        s.op === "delete" &&
        s.type === "docker:index/container:Container" &&
        s.name.startsWith("myapp-web-web-1-2026.11.2-"),
    );
    assert.ok(stop >= 0 && gone > stop, "rollout stop runs before the canary container is deleted");
  });

  it("production: a host canary is held on its host, then promote or abort keeps every host serving", async () => {
    for (const [last, version] of [
      [bump, "-2026.11.2"],
      [undefined, "-2026.11.1"],
    ] as const) {
      const p = await firstDeploy("production");
      p.up("production", await render("production", "host canary", hosts));
      const byHost = Object.fromEntries(served(p.world).map((r) => [r.host, r.target]));
      assert.match(byHost["web-2"], /-2026\.11\.2-/);
      assert.match(byHost["web-1"], /-2026\.11\.1-/);
      p.up("production", last ? await render("production", "bump", last) : await base("production"));
      assertClean(...p.history);
      for (const route of served(p.world)) assert.ok(route.running && route.target.includes(version), route.host);
    }
  });

  it("production: a failure at any step of a traffic canary, then abort, keeps serving", async () => {
    const { tried, broken } = await failEachStep(await render("production", "traffic canary", traffic), (w, k) =>
      assert.deepEqual(splits(w), [], `after failing at step ${k} and the abort, no split`),
    );
    assert.ok(tried > 20);
    assert.deepEqual(broken, []);
  });

  it("production: verification fails on the first web host, then the automatic rollback returns every host", async () => {
    const p = new Project();
    p.up("production", await render("production", "verify", withVerify));
    const failed = p.up("production", await render("production", "verify bump", (c) => (withVerify(c), bump(c))), {
      fail: failAt(named("myapp-web-web-1-verify")),
    });
    assert.equal(failed.failed?.step.name, "myapp-web-web-1-verify");
    // The failed verification stopped the update before web-2 switched.
    const mid = Object.fromEntries(served(p.world).map((r) => [r.host, r.target]));
    assert.match(mid["web-1"], /-2026\.11\.2-/);
    assert.match(mid["web-2"], /-2026\.11\.1-/);
    const back = p.up("production", await render("production", "verify", withVerify));
    assertClean(...p.history);
    assert.ok(back.steps.some((s) => s.op === "update" && s.name === "myapp-web-web-1-route"));
    for (const route of served(p.world)) assert.ok(route.running && route.target.includes("-2026.11.1"), route.host);
  });
});

describe("lifecycle: replacing a server (pulumi up --replace)", () => {
  it("production: replacing a web server gives the host a new machine that serves the app", async () => {
    const p = await firstDeploy("production");
    p.up("production", await base("production"), { replace: ["web-1-server"] });
    assertClean(...p.history);
    assert.ok(served(p.world).some((r) => r.host === "web-1" && r.running));
  });

  it("production: replacing the data server as the README says keeps the database on its volume", async () => {
    const p = await firstDeploy("production");
    // README, Replacing a server: lift the protection in an update of its own, replace, protect again.
    const unprotect = await render("production", "db-1 replace: unprotect", (c) => {
      c["berth:hosts"]["db-1"].replace = "unprotect";
    });
    const lifted = p.up("production", unprotect);
    assert.ok(!lifted.steps.some((s) => s.op.startsWith("replace") || s.op === "delete"), "lifting replaces nothing");
    p.up("production", unprotect, { replace: ["db-1-server"], intended: (urn) => urn.endsWith("::db-1-server") });
    p.up("production", await base("production"));
    assertClean(...p.history);
    const db = [...p.world.machines.values()].find(
      (m) => m.alive && m.label === "db-1" && m.containers.has("myapp-db"),
    );
    assert.ok(db, "the database runs on the new machine");
    assert.ok(db.mounts.has("/mnt/berth/pgdata"), "on its volume");
    const state = p.states.get("production")!;
    assert.ok(state.find((r) => r.name === "db-1-server")?.protect, "protected again afterwards");
  });

  it("staging: a server holding data cannot be replaced by accident: the engine refuses", async () => {
    const p = await firstDeploy("staging");
    const r = p.up("staging", await base("staging"), { replace: ["staging-1-server"] });
    assert.match(r.failed?.reason ?? "", /staging-1-server: protected/);
    assert.ok(
      served(p.world).every((route) => route.running),
      "nothing was touched before the refusal",
    );
  });
});

describe("lifecycle: domains and hosts", () => {
  it("production: adding a public host name re-routes the proxies and the load balancer's certificate", async () => {
    const p = await firstDeploy("production");
    p.up("production", await render("production", "domains", (c) => c["berth:dns"].hosts.push("app.example.com")));
    assertClean(...p.history);
  });

  it("staging: adding a public host name re-runs the switch with the new host and keeps serving", async () => {
    const p = await firstDeploy("staging");
    const r = p.up("staging", await render("staging", "domains", (c) => c["berth:dns"].hosts.push("beta.example.com")));
    assertClean(r);
    assert.ok(r.steps.some((s) => s.op === "update" && s.name.endsWith("-route")));
  });

  it("production: a web host added, then removed again, serves while it exists and leaves nothing behind", async () => {
    const p = await firstDeploy("production");
    const added = p.up("production", await render("production", "add web-3", addWebHost("web-3")));
    assert.ok(served(p.world).some((r) => r.host === "web-3" && r.running));
    const removed = p.up("production", await base("production"), { intended: (urn) => /::web-3-/.test(urn) });
    assertClean(added, removed);
    assert.ok(!p.states.get("production")!.some((r) => r.name.startsWith("web-3-")));
    assert.ok(!served(p.world).some((r) => r.host === "web-3"));
  });

  it("production: removing a web host keeps the other serving (behind no load balancer now)", async () => {
    const p = await firstDeploy("production");
    const r = p.up(
      "production",
      await render("production", "remove web-2", (c) => {
        delete c["berth:hosts"]["web-2"];
        c["berth:servers"].web.hosts = ["web-1"];
      }),
      { intended: (urn) => /::web-2-/.test(urn) },
    );
    assertClean(r);
    assert.deepEqual(
      served(p.world).map((x) => [x.host, x.running]),
      [["web-1", true]],
    );
  });

  it("staging: a second web host (a load balancer in front now) serves beside the first", async () => {
    const p = await firstDeploy("staging");
    const r = p.up("staging", await render("staging", "add staging-2", addWebHost("staging-2")));
    assertClean(r);
    assert.deepEqual(
      served(p.world).map((x) => [x.host, x.running]),
      [
        ["staging-1", true],
        ["staging-2", true],
      ],
    );
  });
});

describe("lifecycle: several stacks in one Hetzner project", () => {
  it("staging and production of one app deploy side by side", async () => {
    const p = await firstDeploy("production");
    p.up("staging", await base("staging"));
    assertClean(...p.history);
  });

  it("two apps' production stacks, each with its own SSH key, deploy side by side", async () => {
    const p = await firstDeploy("production");
    const other = await render("production", "other app", (c) => {
      c["berth:service"] = "otherapp";
      c["berth:ssh"].publicKey =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOtherAppExampleKeyReplaceWithYourOwnPublicKey deploy@example.com";
    });
    // Another app's stack: its own state, the same Hetzner project.
    p.up("otherapp/production", other);
    assertClean(...p.history);
  });
});

describe("lifecycle: several apps on one server (examples/shared-server)", () => {
  /** The server stack, then each app stack reading the server stack's outputs as its reference would. */
  async function shared() {
    const server = await runIndex("apps", stackConfig("apps"));
    const refs = { apps: server.outputs };
    const app = async (name: string) => (await runIndex(name, stackConfig(name), undefined, refs)).resources;
    return { server: server.resources, blog: await app("blog"), shop: await app("shop") };
  }
  const routesOn = (w: World) => served(w).filter((r) => r.host === "box-1");

  it("adding a second app routes it beside the first; removing it leaves the first app, the server and kamal-proxy serving", async () => {
    const { server, blog, shop } = await shared();
    const p = new Project();
    p.up("apps", server);
    p.up("blog", blog);
    const before = routesOn(p.world);
    assert.deepEqual(
      before.map((r) => r.service),
      ["blog-web-blog"],
    );
    const add = p.up("shop", shop);
    assert.ok(
      add.steps.every((s) => s.op === "create"),
      "adding an app only creates",
    );
    assert.deepEqual(
      routesOn(p.world).map((r) => [r.service, r.running]),
      [
        ["blog-web-blog", true],
        ["shop-web-shop", true],
      ],
    );
    // pulumi destroy --stack shop: every resource of that stack leaves, nothing else.
    const remove = p.up("shop", []);
    assert.ok(
      remove.steps.every((s) => s.op === "delete"),
      "removing an app only deletes its own resources",
    );
    assertClean(...p.history);
    assert.deepEqual(routesOn(p.world), before, "the first app keeps its route and running container");
    const machine = [...p.world.machines.values()].find((m) => m.label === "box-1")!;
    assert.ok(machine.containers.has("kamal-proxy"), "the server stack's kamal-proxy keeps running");
    assert.ok(![...machine.containers.keys()].some((c) => c.startsWith("shop-")), "no container of the removed app");
    const serverObjects = [...p.world.instances.values()].filter((i) => i.stack === "apps");
    assert.ok(
      serverObjects.length > 0 && serverObjects.every((i) => i.alive),
      "every object of the server stack lives",
    );
  });
});

describe("lifecycle: the invariants catch a broken program or plan", () => {
  it("a version bump whose route points at the container it deletes leaves a dangling route", async () => {
    const p = await firstDeploy("production");
    const serving = served(p.world).find((r) => r.host === "web-1")!.target;
    const bumped = await render("production", "bump", bump);
    const web1 = bumped.find((r) => r.name === "web-1-ready")!.inputs.connection.host;
    // Every kamal-proxy deploy on web-1 keeps targeting the old container, which the update deletes.
    const next = bumped.map((r) =>
      r.type === "command:remote:Command" &&
      r.inputs.connection?.host === web1 &&
      /kamal-proxy deploy/.test(r.inputs.create)
        ? { ...r, inputs: { ...r.inputs, create: r.inputs.create.replace(/--target=[^:\s]+/g, `--target=${serving}`) } }
        : r,
    );
    const found = problems([p.up("production", next)]);
    assert.ok(
      found.some((l) =>
        l.includes(`downtime: myapp-web-production on web-1: kamal-proxy routes to ${serving}, which is not running`),
      ),
      found.join("\n"),
    );
  });

  it("a plan deleting the old container before the new switch is caught between those steps", async () => {
    const p = await firstDeploy("staging");
    const next = await render("staging", "bump", bump);
    const plan = planUpdate(p.states.get("staging")!, next);
    const old = plan.findIndex(
      (s) => s.op === "delete" && /^myapp-web-staging-1-2026\.11\.1-[0-9a-f]{8}$/.test(s.name),
    );
    const sw = plan.findIndex((s) => s.op === "update" && s.name === "myapp-web-staging-1-route");
    assert.ok(old > sw && sw > 0);
    const reordered = [...plan];
    const [moved] = reordered.splice(old, 1);
    reordered.splice(sw, 0, moved);
    const r = applyUpdate(p.world, "staging", p.states.get("staging")!, next, reordered);
    assert.deepEqual(
      r.violations.map((v) => [v.kind, v.step]),
      [["downtime", sw]],
    );
  });

  it("a data container started before its volume is mounted is caught", async () => {
    // Nothing orders the mount before the database any more, and it is registered last.
    const program = (await base("production")).map((r) => ({
      ...r,
      dependencies: r.dependencies.filter((u) => !u.endsWith("::db-1-pgdata-mount")),
    }));
    const mount = program.findIndex((r) => r.name === "db-1-pgdata-mount");
    const reordered = [...program.slice(0, mount), ...program.slice(mount + 1), program[mount]];
    const found = problems([new Project().up("production", reordered)]);
    assert.ok(
      found.some((l) => /data: db-db-1: starts on db-1 with \/mnt\/berth\/pgdata\/.* on the root disk/.test(l)),
      found.join("\n"),
    );
  });

  it("two servers with one name are caught on the second create", async () => {
    const rendered = await base("production");
    const taken = rendered.find((r) => r.name === "web-1-server")!.inputs.name;
    const program = rendered.map((r) =>
      r.name === "web-2-server" ? { ...r, inputs: { ...r.inputs, name: taken } } : r,
    );
    const r = new Project().up("production", program);
    assert.equal(r.failed?.step.name, "web-2-server");
    assert.deepEqual(
      r.violations.map((v) => v.kind),
      ["unique"],
    );
  });
});

describe("lifecycle: engine rules on small programs", () => {
  const res = (name: string, type: string, inputs: Record<string, any>, extra: Partial<Recorded> = {}): Recorded => ({
    type,
    name,
    urn: `urn:pulumi:t::berth::${type}::${name}`,
    parent: "",
    custom: true,
    inputs,
    raw: inputs,
    protect: false,
    ignoreChanges: [],
    retainOnDelete: false,
    deleteBeforeReplace: false,
    deleteBeforeReplaceDefined: false,
    deletedWith: "",
    replaceOnChanges: [],
    dependencies: [],
    propertyDependencies: {},
    provider: "",
    aliases: [],
    ...extra,
  });
  const CONTAINER = "docker:index/container:Container";
  const COMMAND = "command:remote:Command";
  const container = (env: string, extra: Partial<Recorded> = {}) =>
    res("app", CONTAINER, { name: "app", envs: [env] }, extra);
  const switchFor = (c: Recorded) =>
    res(
      "switch",
      COMMAND,
      { create: "deploy", triggers: ["id"] },
      { dependencies: [c.urn], propertyDependencies: { triggers: [c.urn] }, replaceOnChanges: ["triggers[*]"] },
    );
  const state = (rs: Recorded[]): StateResource[] => rs.map((r, i) => ({ ...r, instance: i + 1 }));
  const ops = (steps: Step[]) => steps.filter((s) => s.op !== "same").map((s) => `${s.op} ${s.name}`);

  it("a changed container is replaced delete-first, with what its replacement replaces deleted before it", () => {
    const before = [container("A=1"), switchFor(container("A=1"))];
    const after = [container("A=2"), switchFor(container("A=2"))];
    assert.deepEqual(ops(planUpdate(state(before), after)), [
      "delete-replaced switch",
      "delete-replaced app",
      "create-replacement app",
      "create-replacement switch",
    ]);
  });

  it("deleteBeforeReplace: false set by the program overrides the provider: create first, delete last", () => {
    const opt = { deleteBeforeReplace: false, deleteBeforeReplaceDefined: true };
    const before = [container("A=1", opt), switchFor(container("A=1", opt))];
    const after = [container("A=2", opt), switchFor(container("A=2", opt))];
    assert.deepEqual(ops(planUpdate(state(before), after)), [
      "create-replacement app",
      "create-replacement switch",
      "delete-replaced switch",
      "delete-replaced app",
    ]);
  });

  it("a resource that left the program is deleted at the end, dependents first", () => {
    const a = res("a", COMMAND, { create: "a" });
    const b = res("b", COMMAND, { create: "b" }, { dependencies: [a.urn] });
    const c = res("c", COMMAND, { create: "c" });
    assert.deepEqual(ops(planUpdate(state([a, b]), [c])), ["create c", "delete b", "delete a"]);
  });

  it("a failed update leaves the replaced resource pending delete; the next update deletes it at its end", () => {
    const w = emptyWorld();
    const v1 = res(
      "hook",
      "command:local:Command",
      { create: "v1", triggers: ["1"] },
      { replaceOnChanges: ["triggers[*]"] },
    );
    const after = res("after", "command:local:Command", { create: "x" }, { dependencies: [v1.urn] });
    const first = update(w, "t", [], [v1]);
    const v2 = { ...v1, inputs: { create: "v2", triggers: ["2"] } };
    const failed = update(w, "t", first.state, [v2, after], { fail: failAt(named("after")) });
    assert.deepEqual(
      failed.state.map((r) => [r.name, !!r.pendingDelete]),
      [
        ["hook", true],
        ["hook", false],
      ],
    );
    const next = planUpdate(failed.state, [v2, after]);
    assert.deepEqual(ops(next), ["create after", "delete-replaced hook"]);
  });

  it("an ignored input keeps its old value in state; a forced replacement is created from the program's", () => {
    const w = emptyWorld();
    const hook = (value: string) =>
      res(
        "h",
        "command:local:Command",
        { create: "run", environment: { V: value } },
        { ignoreChanges: ["environment"] },
      );
    const first = update(w, "t", [], [hook("old")]);
    const same = update(w, "t", first.state, [hook("new")]);
    assert.deepEqual(ops(same.steps), []);
    assert.equal(same.state[0].inputs.environment.V, "old");
    const replaced = update(w, "t", same.state, [hook("new")], { replace: ["h"] });
    assert.deepEqual(ops(replaced.steps), ["create-replacement h", "delete-replaced h"]);
    assert.equal(replaced.state[0].inputs.environment.V, "new");
  });

  it("a protected resource is never replaced: the update stops before touching it", () => {
    const w = emptyWorld();
    const vol = (location: string) =>
      res("v", "hcloud:index/volume:Volume", { name: "v", location }, { protect: true });
    const first = update(w, "t", [], [vol("fsn1")]);
    const r = update(w, "t", first.state, [vol("nbg1")]);
    assert.match(r.failed?.reason ?? "", /protected/);
    assert.deepEqual(
      r.violations.map((v) => v.kind),
      ["stateful"],
    );
  });

  it("an input the program computes anew on every run changes on every update, though one render is reused", () => {
    const w = emptyWorld();
    const step = (stamp: string) =>
      res("assert", COMMAND, { create: "x", triggers: [stamp] }, { replaceOnChanges: ["triggers[*]"] });
    const changed = volatileInputs([step("1")], [step("2")]);
    assert.deepEqual([...changed.values()], [["triggers[0]"]]);
    const first = update(w, "t", [], [res("h", "command:local:Command", { create: "x" })]);
    const program = [res("h", "command:local:Command", { create: "x" }), step("1")];
    const second = update(w, "t", first.state, program);
    assert.deepEqual(ops(planUpdate(second.state, program)), []);
    assert.deepEqual(ops(planUpdate(second.state, program, { changed })), [
      "create-replacement assert",
      "delete-replaced assert",
    ]);
  });

  it("a resource moved under an alias keeps its state: no create, no delete; without the alias, a second zone", () => {
    const w = emptyWorld();
    const zone = (urn: string, aliases: string[] = []) =>
      ({ ...res("z", "hcloud:index/zone:Zone", { name: "example.com" }, { protect: true, aliases }), urn }) as Recorded;
    const oldUrn = "urn:pulumi:t::berth::berth:dns:Dns$hcloud:index/zone:Zone::z";
    const newUrn = "urn:pulumi:t::berth::hcloud:index/zone:Zone::z";
    const record = (z: Recorded) =>
      res("r", "hcloud:index/zoneRrset:ZoneRrset", { zone: "example.com" }, { dependencies: [z.urn] });
    const first = update(w, "t", [], [zone(oldUrn), record(zone(oldUrn))]);
    const moved = update(w, "t", first.state, [zone(newUrn, [oldUrn]), record(zone(newUrn))]);
    assert.deepEqual(ops(moved.steps), []);
    assert.deepEqual(problems([moved]), []);
    assert.deepEqual(
      moved.state.map((r) => r.urn),
      [newUrn, "urn:pulumi:t::berth::hcloud:index/zoneRrset:ZoneRrset::r"],
    );
    assert.deepEqual(ops(planUpdate(first.state, [zone(newUrn), record(zone(newUrn))])), ["create z", "delete z"]);
    const again = emptyWorld();
    const before = update(again, "t", [], [zone(oldUrn), record(zone(oldUrn))]);
    const lost = update(again, "t", before.state, [zone(newUrn), record(zone(newUrn))]);
    // Without it the engine creates the zone anew before deleting the old one, and Hetzner refuses.
    assert.match(lost.failed?.reason ?? "", /rejects a second DNS zone "example.com"/);
  });

  it("a command whose create fails is not in state; the next update creates it again", () => {
    const w = emptyWorld();
    const cmd = res("c", "command:local:Command", { create: "x" });
    const failed = update(w, "t", [], [cmd], { fail: failAt(named("c")) });
    assert.deepEqual(failed.state, []);
    assert.deepEqual(ops(planUpdate(failed.state, [cmd])), ["create c"]);
  });
});

describe("lifecycle: reading what scripts do", () => {
  it("finds kamal-proxy deploys however the script wraps them, and refuses to guess a variable target", () => {
    const script = [
      "set -eu",
      `current=$(docker exec kamal-proxy kamal-proxy list --json | jq -r '.[0].target')`,
      `if [ "$current" != "app-v2:80" ]; then`,
      `  docker exec kamal-proxy kamal-proxy deploy 'app-web' --target "app-v2:80" --host=a.example.com`,
      "fi",
      "docker exec kamal-proxy kamal-proxy remove old-svc || true",
    ].join("\n");
    assert.deepEqual(proxyActions(script, "s"), [
      { kind: "deploy", service: "app-web", target: "app-v2" },
      { kind: "remove", service: "old-svc" },
    ]);
    assert.throws(
      () => proxyActions('docker exec kamal-proxy kamal-proxy deploy app --target="$target:80"', "sw"),
      /sw: cannot tell/,
    );
  });

  it("reads kamal-proxy's rollout verbs from the rollout step berth renders", () => {
    const script = rolloutScript(
      "app-web",
      "app-v3",
      { appPort: 3000, deployTimeout: 30, drainTimeout: 10, healthcheck: { path: "/up" } } as ResolvedProxy,
      { percent: 5, allowlist: ["staff"] },
      { container: "c3" },
    );
    assert.deepEqual(proxyActions(script, "r"), [
      { kind: "rollout-deploy", service: "app-web", target: "app-v3" },
      { kind: "rollout-set", service: "app-web" },
    ]);
    assert.deepEqual(proxyActions(rolloutStopScript("app-web"), "r"), [{ kind: "rollout-stop", service: "app-web" }]);
  });

  it("finds volume mounts and password changes", () => {
    assert.deepEqual(mountPaths("dev=/dev/disk/by-id/scsi-0HC_Volume_1\nmnt='/mnt/data'\nmount \"$mnt\"", "m"), [
      "/mnt/data",
    ]);
    assert.deepEqual(passwordChange(`docker exec -i myapp-db psql -c "ALTER ROLE app PASSWORD :'pw'"`), {
      container: "myapp-db",
    });
    assert.deepEqual(passwordChange("docker exec -i 'myapp-db' psql -X -c '\\password myapp'"), {
      container: "myapp-db",
    });
    assert.equal(passwordChange("docker exec myapp-db pg_dump"), undefined);
    assert.equal(fileWrite("target='/srv/files/pw'\nas_root sh -c 'cat > \"$1.tmp\"' sh \"$target\""), "/srv/files/pw");
  });
});
