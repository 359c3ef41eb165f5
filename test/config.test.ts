import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, configPath, fromEngineConfig, parseConfig } from "../config/load";
import { stackConfig } from "./harness";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestKey test@example.com";

/** A small valid config; each case below breaks one thing. */
function base(): Record<string, any> {
  return {
    service: "shop",
    image: "ghcr.io/acme/shop",
    version: "1.10",
    hosts: { "web-1": { serverType: "cx23", location: "fsn1" } },
    servers: { web: { hosts: ["web-1"] } },
    ssh: { publicKey: KEY },
  };
}

function problems(change: (c: Record<string, any>) => void): string[] {
  const cfg = base();
  change(cfg);
  try {
    parseConfig(cfg, "test");
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.doesNotMatch(err.message, /\n\s+at /, "a config error must not carry a stack trace");
    return err.problems;
  }
  assert.fail("config was accepted");
}

describe("configuration", () => {
  it("accepts the example stacks and keeps tags as strings", () => {
    for (const stack of ["staging", "production"]) {
      const cfg = parseConfig(fromEngineConfig(stackConfig(stack).config), stack);
      assert.equal(cfg.stack, stack);
      assert.equal(typeof cfg.version, "string");
    }
    // The engine hands scalars over as strings and objects as JSON.
    const engine = Object.fromEntries(
      Object.entries(base()).map(([k, v]) => [`berth:${k}`, typeof v === "string" ? v : JSON.stringify(v)]),
    );
    assert.equal(parseConfig(fromEngineConfig(engine), "x").version, "1.10");
  });

  it("reads top-level numbers, which the engine hands over as strings", () => {
    const engine = Object.fromEntries(
      Object.entries(base()).map(([k, v]) => [`berth:${k}`, typeof v === "string" ? v : JSON.stringify(v)]),
    );
    const cfg = parseConfig(
      fromEngineConfig({
        ...engine,
        "berth:retainContainers": "3",
        "berth:readinessDelay": "12",
        "berth:version": "2",
      }),
      "x",
    );
    assert.equal(cfg.retainContainers, 3);
    assert.equal(cfg.readinessDelay, 12);
    assert.equal(cfg.version, "2");
  });

  it("applies defaults", () => {
    const cfg = parseConfig(base(), "staging");
    assert.deepEqual(cfg.ssh, { user: "root", port: 22, publicKey: KEY, allowFrom: ["0.0.0.0/0", "::/0"] });
    assert.equal(cfg.hosts["web-1"].kind, "cloud");
    assert.equal(cfg.hosts["web-1"].kind === "cloud" && cfg.hosts["web-1"].image, "ubuntu-24.04");
    assert.deepEqual(cfg.network, { ipRange: "10.0.0.0/16", subnet: "10.0.1.0/24" });
  });

  it("treats a host with an address as an existing machine", () => {
    const cfg = parseConfig({ ...base(), hosts: { "web-1": { address: "203.0.113.7" } } }, "x");
    assert.deepEqual(cfg.hosts["web-1"], {
      kind: "existing",
      name: "web-1",
      address: "203.0.113.7",
      ipv6: undefined,
      privateAddress: "203.0.113.7",
      stateful: false,
    });
  });

  const mistakes: [string, (c: Record<string, any>) => void, RegExp][] = [
    ["missing server type", (c) => delete c.hosts["web-1"].serverType, /^berth:hosts\.web-1\.serverType: required/],
    [
      "server type Hetzner retired",
      (c) => (c.hosts["web-1"].serverType = "cx22"),
      /^berth:hosts\.web-1\.serverType: cx22 was retired by Hetzner and can no longer be ordered: use cx23$/,
    ],
    [
      "mistyped server type",
      (c) => (c.hosts["web-1"].serverType = "cx34"),
      /^berth:hosts\.web-1\.serverType: cx34 is not a Hetzner Cloud server type; did you mean cx33\? Current types: cx23, /,
    ],
    [
      "server type that does not exist",
      (c) => (c.hosts["web-1"].serverType = "cx9000"),
      /^berth:hosts\.web-1\.serverType: cx9000 is not a Hetzner Cloud server type\. Current types: .*, ccx63 \(`hcloud server-type list` shows the types your project can order\)$/,
    ],
    [
      "misspelt host key",
      (c) => (c.hosts["web-1"].sevrerType = "cx23"),
      /^berth:hosts\.web-1\.sevrerType: unknown key; did you mean "serverType"\?/,
    ],
    ["misspelt top-level key", (c) => (c.hsots = {}), /^berth:hsots: unknown key; did you mean "hosts"\?/],
    [
      "dangling host in a role",
      (c) => c.servers.web.hosts.push("web-2"),
      /^berth:servers\.web\.hosts\[1\]: unknown host "web-2"; define it under berth:hosts or did you mean "web-1"\?/,
    ],
    [
      "duplicate host in a role",
      (c) => c.servers.web.hosts.push("web-1"),
      /^berth:servers\.web\.hosts\[1\]: duplicate host "web-1"/,
    ],
    [
      "two hosts with one address",
      (c) => (
        (c.hosts = { a: { address: "203.0.113.1" }, b: { address: "203.0.113.1" } }),
        (c.servers.web.hosts = ["a", "b"]),
        (c.dns = { zone: "example.com", hosts: ["example.com"] })
      ),
      /^berth:hosts\.b\.address: same address as host "a"/,
    ],
    [
      "tag in the image",
      (c) => (c.image = "ghcr.io/acme/shop:latest"),
      /^berth:image: must be an image name without tag/,
    ],
    [
      "bad service name",
      (c) => (c.service = "my shop"),
      /^berth:service: may only contain letters, digits, dashes and underscores/,
    ],
    ["unknown location", (c) => (c.hosts["web-1"].location = "fra1"), /^berth:hosts\.web-1\.location: /],
    ["no web role", (c) => (c.servers = { job: { hosts: ["web-1"] } }), /^berth:servers\.web: required/],
    ["bad public key", (c) => (c.ssh.publicKey = "AAAA"), /^berth:ssh\.publicKey: must be an OpenSSH public key line/],
    [
      "host name outside the zone",
      (c) => (c.dns = { zone: "example.com", hosts: ["shop.example.org"] }),
      /^berth:dns\.hosts\[0\]: "shop\.example\.org" is not inside zone example\.com/,
    ],
    [
      "cloud-only key on an existing machine",
      (c) => (c.hosts["web-1"].address = "203.0.113.9"),
      /^berth:hosts\.web-1\.serverType: only for Hetzner Cloud servers/,
    ],
    [
      "several web hosts without dns",
      (c) => ((c.hosts["web-2"] = { serverType: "cx23", location: "fsn1" }), c.servers.web.hosts.push("web-2")),
      /^berth:dns: required when the web role has several hosts/,
    ],
    [
      "locations in two network zones",
      (c) => (c.hosts["web-2"] = { serverType: "cx23", location: "ash" }),
      /^berth:hosts: Hetzner Cloud hosts span network zones eu-central, us-east/,
    ],
    [
      "private ip outside the subnet",
      (c) => (c.hosts["web-1"].privateIp = "10.9.0.5"),
      /^berth:hosts\.web-1\.privateIp: must lie inside berth:network\.subnet/,
    ],
    [
      "missing ssh private key secret",
      (c) => (c.ssh.privateKeySecret = "SSH_KEY"),
      /^berth:ssh\.privateKeySecret: secret "SSH_KEY" is not set; run `pulumi config set --secret --path 'berth:secrets\.SSH_KEY'/,
    ],
    ["version with a space", (c) => (c.version = "1 2"), /^berth:version: must be an image tag/],
    [
      "missing version",
      (c) => delete c.version,
      /^berth:version: required: add this key, holding text; docs\/configuration.md describes it$/,
    ],
  ];
  for (const [what, change, expected] of mistakes) {
    it(`reports ${what} with its path`, () => {
      const found = problems(change);
      assert.ok(
        found.some((p) => expected.test(p)),
        `expected ${expected}, got:\n${found.join("\n")}`,
      );
    });
  }

  it("reports every mistake at once", () => {
    const found = problems((c) => {
      c.service = "my shop";
      delete c.hosts["web-1"].location;
      c.servers.web.hosts.push("web-9");
    });
    assert.equal(found.length, 3, found.join("\n"));
  });
});

describe("config paths", () => {
  it("quote a key with spaces or punctuation, so a message names one unambiguous path", () => {
    assert.equal(configPath(["hosts", "web-1", "volumes", 0]), "berth:hosts.web-1.volumes[0]");
    assert.equal(configPath(["registry", " "]), 'berth:registry["\\u0020"]');
    assert.equal(configPath(["env", "clear", "a.b"]), 'berth:env.clear["a.b"]');
    const raw = fromEngineConfig(stackConfig("staging").config);
    raw.hosts = { "Web 1": { serverType: "cx23", location: "fsn1" } };
    assert.throws(
      () => parseConfig(raw, "staging"),
      (err: ConfigError) =>
        err.problems.some((p) =>
          /^berth:hosts\["Web\\u00201"\]: "Web 1" is not a valid name: must be a lowercase host name/.test(p),
        ),
    );
  });
});
