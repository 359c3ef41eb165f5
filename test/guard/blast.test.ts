// Blast radius: what each realistic config change does to the example stacks, and the outcomes a
// user relies on: no data-holding resource is replaced or deleted as a side effect, a version bump
// touches no infrastructure, protected resources about to be lost are flagged.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { changedPaths, classify, Classified, pathMatches, RenderedResource, tally } from "../../guard/blast";
import { CHANGES } from "../../guard/changes";
import { forcesReplacement, REPLACEMENT } from "../../guard/replacement";
import { blastDocs, staleDocs } from "../../guard/docs";
import { blastMatrix, MatrixEntry, serverNames, sharedServerMatrix } from "../../guard/matrix";
import { ROOT, runIndex, stackConfig } from "../support/harness";

const REQUIRED = [
  "version",
  "env",
  "secret",
  "add-web-host",
  "remove-host",
  "server-type",
  "bootstrap",
  "ssh-key",
  "accessory-image",
  "add-accessory",
  "dns-ttl",
  "maintenance",
  "healthcheck",
];

function resource(over: Partial<RenderedResource> & { name: string }): RenderedResource {
  return {
    type: "hcloud:index/server:Server",
    urn: `urn:${over.name}`,
    custom: true,
    inputs: {},
    protect: false,
    ignoreChanges: [],
    replaceOnChanges: [],
    retainOnDelete: false,
    propertyDependencies: {},
    ...over,
  };
}

describe("classifying a change", () => {
  it("tells an in-place update from a replacement by the provider's replace-forcing inputs", () => {
    const before = [resource({ name: "s", inputs: { serverType: "cx23", location: "fsn1" } })];
    const resized = classify(before, [resource({ name: "s", inputs: { serverType: "cx33", location: "fsn1" } })]);
    assert.equal(resized[0].outcome, "update");
    const moved = classify(before, [resource({ name: "s", inputs: { serverType: "cx23", location: "nbg1" } })]);
    assert.equal(moved[0].outcome, "replace");
  });

  it("ignores changes under ignoreChanges, and replaces on replaceOnChanges paths", () => {
    const before = [resource({ name: "s", inputs: { userData: "a" }, ignoreChanges: ["userData"] })];
    const after = [resource({ name: "s", inputs: { userData: "b" }, ignoreChanges: ["userData"] })];
    assert.equal(classify(before, after)[0].outcome, "same");
    const cmd = (t: string) =>
      resource({
        name: "c",
        type: "command:remote:Command",
        inputs: { triggers: [t] },
        replaceOnChanges: ["triggers[*]"],
      });
    assert.equal(classify([cmd("1")], [cmd("2")])[0].outcome, "replace");
  });

  it("carries a replacement to the inputs that read the replaced resource", () => {
    const key = (k: string) => resource({ name: "key", type: "hcloud:index/sshKey:SshKey", inputs: { publicKey: k } });
    const server = (ignore: string[]) =>
      resource({
        name: "s",
        inputs: { sshKeys: ["1"] },
        ignoreChanges: ignore,
        propertyDependencies: { sshKeys: ["urn:key"] },
      });
    const outcome = (ignore: string[]) =>
      classify([key("a"), server(ignore)], [key("b"), server(ignore)]).find((r) => r.resource.name === "s")!.outcome;
    assert.equal(outcome([]), "replace");
    assert.equal(outcome(["sshKeys"]), "same");
  });

  it("flags protected resources that would be deleted, and knows deletions and creations", () => {
    const rows = classify(
      [resource({ name: "v", type: "hcloud:index/volume:Volume", protect: true })],
      [resource({ name: "w", type: "hcloud:index/volume:Volume" })],
    );
    const v = rows.find((r) => r.resource.name === "v")!;
    assert.equal(v.outcome, "delete");
    assert.ok(v.protectedLoss && v.stateful);
    assert.equal(rows.find((r) => r.resource.name === "w")!.outcome, "create");
  });

  it("matches property paths the way Pulumi writes them", () => {
    assert.ok(pathMatches("triggers[*]", "triggers[3]"));
    assert.ok(pathMatches("healthCheck", "healthCheck.http.path"));
    assert.ok(!pathMatches("healthCheck.interval", "healthCheck.timeout"));
    assert.deepEqual(changedPaths({ a: [1, { b: 2 }] }, { a: [1, { b: 3 }], c: 1 }), ["a[1].b", "c"]);
  });

  it("knows no rule for a type it was not taught, rather than guessing", () => {
    assert.throws(() => forcesReplacement("hcloud:index/floatingIp:FloatingIp", "homeLocation"), /no replacement rule/);
  });
});

describe("blast radius of the example stacks", () => {
  let matrix: MatrixEntry[];
  const entry = (id: string, stack: string) => {
    const e = matrix.find((m) => m.change.id === id && m.stack === stack);
    assert.ok(e, `${id} on ${stack}`);
    return e;
  };
  const touched = (rows: Classified[]) => rows.filter((r) => r.outcome !== "same");
  const lost = (rows: Classified[]) => rows.filter((r) => r.outcome === "replace" || r.outcome === "delete");

  before(async () => {
    matrix = await blastMatrix();
  });

  it("is what docs/blast-radius.md and the summary table of docs/safety.md say (npm run safety writes them)", async () => {
    assert.deepEqual(staleDocs(ROOT, await blastDocs(ROOT, matrix)), []);
  });

  it("covers every required change on at least one stack, with a provider rule for every resource type", () => {
    // Each entry classifies the whole rendered stack, so an empty row list is a broken render.
    for (const e of matrix)
      assert.ok(e.rows.filter((r) => r.resource.custom).length > 20, `${e.change.id} on ${e.stack}`);
    for (const id of REQUIRED)
      assert.ok(
        matrix.some((m) => m.change.id === id),
        id,
      );
    assert.ok(CHANGES.every((c) => matrix.some((m) => m.change.id === c.id)));
    for (const e of matrix)
      for (const r of e.rows)
        if (r.resource.custom && !r.resource.type.startsWith("pulumi:providers:"))
          assert.ok(REPLACEMENT[r.resource.type], `rule for ${r.resource.type}`);
  });

  it("replaces or deletes a data-holding resource only when the change is about that resource", () => {
    let checked = 0;
    for (const e of matrix) {
      for (const r of lost(e.rows).filter((x) => x.stateful)) {
        checked++;
        assert.ok(
          e.change.about?.(r.resource.name),
          `${e.change.title} (${e.stack}) would ${r.outcome} ${r.resource.name}`,
        );
      }
    }
    // Moving the data host does lose stateful resources: the rule above was exercised.
    assert.ok(checked > 0, "no change in the matrix replaces a stateful resource");
  });

  it("flags every protected resource a change would replace or delete", () => {
    for (const e of matrix)
      for (const r of lost(e.rows))
        if (r.resource.protect) assert.ok(r.protectedLoss, `${e.change.id}: ${r.resource.name}`);
    for (const stack of ["production", "staging"]) {
      const flagged = lost(entry("move-data-host", stack).rows).filter((r) => r.protectedLoss);
      const types = flagged.map((r) => r.resource.type);
      assert.ok(types.includes("hcloud:index/server:Server"), `${stack}: the data server`);
      assert.ok(types.includes("hcloud:index/primaryIp:PrimaryIp"), `${stack}: its addresses`);
    }
    assert.ok(
      lost(entry("move-data-host", "production").rows).some(
        (r) => r.resource.name === "db-1-pgdata-volume" && r.protectedLoss,
      ),
    );
  });

  it("no change that keeps the servers replaces an app container in place (it would stop first)", () => {
    for (const e of matrix) {
      const serverReplaced = e.rows.some(
        (r) => r.resource.type === "hcloud:index/server:Server" && r.outcome === "replace",
      );
      if (serverReplaced) continue;
      const inPlace = e.rows.filter(
        (r) =>
          r.resource.type === "docker:index/container:Container" &&
          r.resource.name.startsWith("myapp-") &&
          r.outcome === "replace",
      );
      assert.deepEqual(
        inPlace.map((r) => `${r.resource.name} (${r.keys.join(", ")})`),
        [],
        `${e.change.title} on ${e.stack}`,
      );
    }
  });

  it("a replaced server gets every image and container of its host again", () => {
    const rows = entry("move-data-host", "staging").rows;
    const replaced = (type: string) =>
      rows.filter((r) => r.resource.type === type && r.outcome === "replace").map((r) => r.resource.name);
    const containers = replaced("docker:index/container:Container").sort();
    assert.equal(containers.length, 3);
    assert.equal(containers[0], "litestream-staging-1");
    assert.match(containers[1], /^myapp-web-staging-1-2026\.11\.1-[0-9a-f]{8}$/);
    assert.equal(containers[2], "staging-1-proxy-container");
    assert.equal(replaced("docker:index/remoteImage:RemoteImage").length, 3);
    const routed = rows.find((r) => r.resource.name === "myapp-web-staging-1-route");
    assert.ok(routed && routed.outcome !== "same", "routed again");
  });

  it("a version bump touches no infrastructure: only app images, containers and deploy steps", () => {
    for (const stack of ["production", "staging"]) {
      const rows = touched(entry("version", stack).rows);
      assert.ok(rows.length > 0);
      for (const r of rows) {
        assert.match(
          r.resource.type,
          /^(docker:index\/(container|remoteImage)|command:(remote|local):Command)/,
          r.resource.name,
        );
        assert.ok(!r.resource.name.includes("proxy"), `${r.resource.name}: the proxy stays`);
        assert.ok(!/^(db|litestream)-/.test(r.resource.name), `${r.resource.name}: accessories stay`);
      }
    }
  });

  it("rotating an SSH key or changing bootstrap or OS image never replaces a server", () => {
    for (const id of ["ssh-key", "bootstrap", "host-image"])
      for (const stack of ["production", "staging"])
        assert.ok(
          touched(entry(id, stack).rows).every((r) => r.resource.type !== "hcloud:index/server:Server"),
          `${id} on ${stack}`,
        );
    // The examples name a key registered once in the project (berth:ssh.hetznerKeyName): the
    // stack owns no key, and servers keep the one they were created with.
    assert.deepEqual(
      touched(entry("ssh-key", "production").rows).map((r) => [r.resource.name, r.outcome]),
      [],
    );
  });

  it("resizing a server, changing a TTL or a health check updates in place", () => {
    assert.deepEqual(
      touched(entry("server-type", "production").rows).map((r) => [r.resource.name, r.outcome]),
      [["db-1-server", "update"]],
    );
    for (const id of ["dns-ttl", "healthcheck"]) {
      const rows = touched(entry(id, "production").rows);
      assert.ok(rows.length > 0 && rows.every((r) => r.outcome === "update"), id);
    }
    assert.ok(
      touched(entry("dns-ttl", "staging").rows).every((r) => r.resource.type === "hcloud:index/zoneRrset:ZoneRrset"),
    );
  });

  it("removing a host deletes its server and addresses, and nothing on other hosts", () => {
    const rows = entry("remove-host", "production").rows;
    const deleted = rows.filter((r) => r.outcome === "delete").map((r) => r.resource.name);
    assert.ok(deleted.includes("web-2-server") && deleted.includes("web-2-ipv4"));
    // One web host left serves directly: the load balancer and its targets go, DNS follows.
    assert.ok(deleted.includes("myapp-production-lb"));
    const others = deleted.filter((n) => /(web-1|db-1|job-1)/.test(n) && !n.startsWith("myapp-production-target-"));
    assert.deepEqual(others, []);
    assert.ok(rows.some((r) => r.resource.name === "myapp-production-example.com-a" && r.outcome === "update"));
  });

  it("adding an accessory protects the host it lands on without replacing it", () => {
    const server = entry("add-accessory", "production").rows.find((r) => r.resource.name === "job-1-server")!;
    assert.equal(server.outcome, "update");
    assert.equal(server.resource.protect, true);
    assert.equal(server.resource.inputs.labels["berth-stateful"], "true");
  });
});

describe("blast radius: apps on a shared server (examples/shared-server)", () => {
  it("adding or removing an app updates only its own stack and touches no name the server stack or the other app uses", async () => {
    const rows = await sharedServerMatrix();
    const shop = rows.filter((r) => r.stack === "shop");
    assert.deepEqual(
      shop.map((r) => [tally(r.rows).create > 0, tally(r.rows).delete > 0]),
      [
        [true, false],
        [false, true],
      ],
    );
    for (const r of rows.filter((r) => r.stack !== "shop")) {
      assert.equal(r.updated, false);
      assert.deepEqual(r.clashes, [], `${r.change}: ${r.stack}`);
    }
    for (const r of shop) assert.ok(!r.rows.some((x) => x.stateful), "the app holds no Hetzner data resource");
  });

  it("sees the names an app puts on the server, so a shared name would show", async () => {
    const server = await runIndex("apps", stackConfig("apps"));
    const blog = await runIndex("blog", stackConfig("blog"), undefined, { apps: server.outputs });
    const names = serverNames(blog.resources);
    for (const n of ["volume blog-blog-storage", "route blog-web-blog", "container blog-blog-litestream"])
      assert.ok(names.has(n), `${n} in ${[...names].join(", ")}`);
    assert.ok(serverNames(server.resources).has("container kamal-proxy"));
  });
});
