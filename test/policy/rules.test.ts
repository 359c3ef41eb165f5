// The policy pack's rules, offline: the rendered example stacks pass, and each kind of mistake the
// rules exist for (copied into a rendered stack) fails with the resource it is about.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { checkStack, mutableImage, PolicyInput, stackOf } from "../../policy/rules";
import { Recorded, runIndex, stackConfig } from "../support/harness";

const asPolicy = (resources: Recorded[]): PolicyInput[] =>
  resources.map((r) => ({
    type: r.type,
    name: r.name,
    urn: r.urn,
    props: structuredClone(r.inputs),
    protect: r.protect,
  }));

describe("policy pack rules", () => {
  const stacks: Record<string, PolicyInput[]> = {};
  before(async () => {
    for (const s of ["production", "staging"]) stacks[s] = asPolicy((await runIndex(s, stackConfig(s))).resources);
  });

  /** Violations after `mutate` changes a fresh copy of a stack's resources. */
  function violations(stack: string, mutate: (rs: PolicyInput[]) => void) {
    const rs = structuredClone(stacks[stack]);
    mutate(rs);
    return checkStack(rs, stackOf(rs[0].urn))
      .map((v) => `${v.rule} ${v.urn.split("::").pop()}`)
      .sort();
  }
  const find = (rs: PolicyInput[], name: string) => {
    const r = rs.find((x) => x.name === name);
    assert.ok(r, name);
    return r;
  };

  it("pass on both example stacks", () => {
    for (const s of ["production", "staging"]) {
      assert.equal(stackOf(stacks[s][0].urn), s);
      assert.deepEqual(
        violations(s, () => {}),
        [],
      );
    }
  });

  it("require protection on volumes, data servers and their addresses", () => {
    assert.deepEqual(
      violations("production", (rs) => {
        find(rs, "db-1-pgdata-volume").protect = false;
        find(rs, "db-1-server").protect = false;
        find(rs, "db-1-ipv4").protect = false;
      }),
      [
        "stateful-resources-protected db-1-ipv4",
        "stateful-resources-protected db-1-pgdata-volume",
        "stateful-resources-protected db-1-server",
      ],
    );
    assert.deepEqual(
      violations("staging", (rs) => (find(rs, "staging-1-server").protect = false)),
      ["stateful-resources-protected staging-1-server"],
    );
  });

  it("let a data server go unprotected only while it is being replaced on purpose, never its volume or addresses", async () => {
    const rs = asPolicy(
      (
        await runIndex(
          "production",
          stackConfig("production", (c) => ((c["berth:hosts"] as any)["db-1"].replace = "unprotect")),
        )
      ).resources,
    );
    assert.equal(find(rs, "db-1-server").protect, false);
    assert.deepEqual(checkStack(rs, "production"), []);
    find(rs, "db-1-pgdata-volume").protect = false;
    assert.deepEqual(
      checkStack(rs, "production").map((v) => v.urn.split("::").pop()),
      ["db-1-pgdata-volume"],
    );
  });

  it("reject accessory ports on a public or unspecified address", () => {
    assert.deepEqual(
      violations("production", (rs) => (find(rs, "db-db-1").props.ports[0].ip = "0.0.0.0")),
      ["accessory-ports-private db-db-1"],
    );
    assert.deepEqual(
      violations("production", (rs) => delete find(rs, "db-db-1").props.ports[0].ip),
      ["accessory-ports-private db-db-1"],
    );
    // The proxy publishes 80/443 on purpose; it is no accessory.
    assert.ok(stacks.production.some((r) => r.name === "web-1-proxy-container" && r.props.ports.length === 2));
  });

  it("reject a latest or missing tag in production only", () => {
    const latest = (rs: PolicyInput[]) => {
      for (const img of rs.filter(
        (r) => r.type === "docker:index/remoteImage:RemoteImage" && r.name.startsWith("myapp-"),
      ))
        img.props.name = img.props.name.replace(/:[^:/]+$/, ":latest");
    };
    assert.equal(violations("production", latest).length, 3, "one per app host");
    assert.ok(violations("production", latest).every((v) => v.startsWith("no-latest-in-production ")));
    assert.deepEqual(violations("staging", latest), []);
    assert.ok(mutableImage("redis") && mutableImage("ghcr.io/a/b:latest") && mutableImage("localhost:5000/app"));
    assert.ok(!mutableImage("localhost:5000/app:1.2") && !mutableImage("redis@sha256:" + "a".repeat(64)));
  });

  it("require TLS for every public host name", () => {
    assert.deepEqual(
      violations("staging", (rs) => {
        const cmd = rs.find((r) => /kamal-proxy deploy/.test(r.props.create ?? ""))!;
        cmd.props.create = cmd.props.create.replace(" --tls ", " ");
      }),
      [
        "tls-on-public-hosts myapp-staging-staging.example.com-a",
        "tls-on-public-hosts myapp-staging-staging.example.com-aaaa",
      ],
    );
    const noCert = violations(
      "production",
      (rs) => (find(rs, "myapp-production-certificate").props.domainNames = ["example.com"]),
    );
    assert.deepEqual(noCert, [
      "tls-on-public-hosts myapp-production-www.example.com-a",
      "tls-on-public-hosts myapp-production-www.example.com-aaaa",
    ]);
  });

  it("require a firewall on every server", () => {
    assert.deepEqual(
      violations("production", (rs) => (find(rs, "web-2-server").props.firewallIds = [])),
      ["firewall-on-servers web-2-server"],
    );
  });
});
