import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, configPath, fromEngineConfig, parseConfig } from "../../config/load";
import { stackConfig } from "../support/harness";
import { minimalConfig, TEST_HOST_KEY, TEST_PUBLIC_KEY } from "../support/configs";

const ECDSA_KEY =
  "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJ/GIaM3mQ5wJUy6iZXh/fq4UG+/aeMS8RnML0NOtDJESuuL5wOZmI90wSFNdrE5UShzaAQGNuSbDlZUYhES6vY=";
const RSA_KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAEAcHBwcHBwcHBwcHBwcHBwc=";

/** A small valid config; each case below breaks one thing. */
const base = () => minimalConfig("1.10");

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
    assert.deepEqual(cfg.ssh, { user: "root", port: 22, publicKey: TEST_PUBLIC_KEY, allowFrom: ["0.0.0.0/0", "::/0"] });
    assert.equal(cfg.hosts["web-1"].kind, "cloud");
    assert.equal(cfg.hosts["web-1"].kind === "cloud" && cfg.hosts["web-1"].image, "ubuntu-24.04");
    assert.deepEqual(cfg.network, { ipRange: "10.0.0.0/16", subnet: "10.0.1.0/24", homeZone: "eu-central" });
  });

  it("treats a host with an address as an existing machine, with the host keys ssh-keyscan printed", () => {
    const cfg = parseConfig(
      {
        ...base(),
        hosts: {
          "web-1": { address: "203.0.113.7", hostKeys: [`203.0.113.7 ${RSA_KEY}`, `${TEST_HOST_KEY} root@web-1`] },
        },
      },
      "x",
    );
    assert.deepEqual(cfg.hosts["web-1"], {
      kind: "existing",
      name: "web-1",
      address: "203.0.113.7",
      ipv6: undefined,
      privateAddress: "203.0.113.7",
      stateful: false,
      hostKeys: [RSA_KEY, TEST_HOST_KEY],
    });
  });

  it("names an existing machine's missing host key and how to get and check it", () => {
    const found = problems((c) => (c.hosts = { "web-1": { address: "203.0.113.7" } }));
    assert.deepEqual(found, [
      "berth:hosts.web-1.hostKeys: required for an existing machine, so berth verifies it is talking to this machine instead of trusting the first key it sees: get it with `ssh-keyscan -p 22 -t ed25519 203.0.113.7`, check that its fingerprint (`ssh-keygen -lf <file>`) is the one the machine shows for itself (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on its console), then `pulumi config set --path 'berth:hosts.web-1.hostKeys[0]' 'ssh-ed25519 AAAA...'`",
    ]);
  });

  it("accepts ECDSA keys and a Hetzner key by name", () => {
    const cfg = parseConfig(
      {
        ...base(),
        hosts: { "web-1": { serverType: "cx23", location: "fsn1", hostKeys: [ECDSA_KEY] } },
        ssh: { publicKey: TEST_PUBLIC_KEY, hetznerKeyName: "deploy" },
      },
      "x",
    );
    assert.deepEqual(cfg.hosts["web-1"].hostKeys, [ECDSA_KEY]);
    assert.equal(cfg.ssh.hetznerKeyName, "deploy");
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
      "empty server type",
      (c) => (c.hosts["web-1"].serverType = ""),
      /^berth:hosts\.web-1\.serverType: must name a Hetzner server type such as cx23 \(`hcloud server-type list`/,
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
        (c.hosts = {
          a: { address: "203.0.113.1", hostKeys: [TEST_HOST_KEY] },
          b: { address: "203.0.113.1", hostKeys: [TEST_HOST_KEY] },
        }),
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
    [
      "unknown primary role",
      (c) => (c.primaryRole = "worker"),
      /^berth:primaryRole: unknown role "worker"; roles are web/,
    ],
    ["bad public key", (c) => (c.ssh.publicKey = "AAAA"), /^berth:ssh\.publicKey: must be an OpenSSH public key line/],
    [
      "host name outside the zone",
      (c) => (c.dns = { zone: "example.com", hosts: ["shop.example.org"] }),
      /^berth:dns\.hosts\[0\]: "shop\.example\.org" is not inside zone example\.com/,
    ],
    [
      "cloud-only key on an existing machine",
      (c) => ((c.hosts["web-1"].address = "203.0.113.9"), (c.hosts["web-1"].hostKeys = [TEST_HOST_KEY])),
      /^berth:hosts\.web-1\.serverType: only for Hetzner Cloud servers/,
    ],
    [
      "a host key that is not one",
      (c) => (c.hosts["web-1"].hostKeys = ["ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAAAEAcHBwcHBwcHBwcHBwcHBwc="]),
      /^berth:hosts\.web-1\.hostKeys\[0\]: must be an SSH host key as ssh-keyscan prints it/,
    ],
    [
      "only an RSA host key",
      (c) => (c.hosts["web-1"] = { address: "203.0.113.9", hostKeys: [RSA_KEY] }),
      /^berth:hosts\.web-1\.hostKeys: needs the machine's ed25519 \(or ECDSA\) key beside RSA ones/,
    ],
    [
      "a pinned key on a server being rebuilt",
      (c) => Object.assign(c.hosts["web-1"], { hostKeys: [TEST_HOST_KEY], replace: "rebuild" }),
      /^berth:hosts\.web-1\.hostKeys: a rebuilt server gets the host key berth generates; remove hostKeys/,
    ],
    [
      "replace on an existing machine",
      (c) => (c.hosts["web-1"] = { address: "203.0.113.9", hostKeys: [TEST_HOST_KEY], replace: "unprotect" }),
      /^berth:hosts\.web-1\.replace: only for Hetzner Cloud servers/,
    ],
    [
      "a server name longer than a host name",
      (c) => (
        (c.hosts = { ["w".repeat(60)]: { serverType: "cx23", location: "fsn1" } }),
        (c.servers.web.hosts = ["w".repeat(60)])
      ),
      /^berth:hosts\.w+: the server's name shop-test-w+ \(<service>-<stack>-<host>, unique in the Hetzner project\) is longer than the 63 characters/,
    ],
    [
      "several web hosts without dns",
      (c) => ((c.hosts["web-2"] = { serverType: "cx23", location: "fsn1" }), c.servers.web.hosts.push("web-2")),
      /^berth:loadBalancer\.enabled: required: the primary role web has 2 hosts; choose how traffic reaches them/,
    ],
    [
      "locations in two network zones",
      (c) => (c.hosts["web-2"] = { serverType: "cx23", location: "ash" }),
      /^berth:network\.zone: required: Hetzner Cloud hosts span network zones eu-central, us-east/,
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
      /^berth:version: not set, and the stack has no deployed version to keep/,
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

  it("refuses a path prefix with ssl, which kamal-proxy refuses, naming the path and the fix", () => {
    const single = (c: Record<string, any>) => (c.dns = { zone: "example.com", hosts: ["shop.example.com"] });
    // One web host with DNS names: ssl is on by default.
    const found = problems((c) => {
      single(c);
      c.proxy = { pathPrefix: "/shop" };
    });
    assert.ok(
      found.some((p) =>
        /^berth:proxy\.pathPrefix: role web serves only \/shop with ssl on, which kamal-proxy refuses: it takes TLS settings only from the service on the root path\. Set ssl: false on this role/.test(
          p,
        ),
      ),
      found.join("\n"),
    );
    const own = problems((c) => {
      single(c);
      c.servers.web.proxy = { pathPrefix: ["/api", "/admin"] };
    });
    assert.ok(own.some((p) => p.startsWith("berth:servers.web.proxy.pathPrefix: role web serves only /api, /admin")));
    const accepted = (change: (c: Record<string, any>) => void) => {
      const cfg = base();
      single(cfg);
      change(cfg);
      parseConfig(cfg, "test");
    };
    accepted((c) => (c.proxy = { pathPrefix: "/shop", ssl: false }));
    // The root path service may carry TLS.
    accepted((c) => (c.proxy = { pathPrefix: ["/", "/shop"] }));
  });

  it("refuses user labels that would overwrite berth's own", () => {
    const own =
      "berth sets the service, role and destination labels and every berth.* label itself (its commands find containers by them); use another name";
    assert.deepEqual(
      problems((c) => (c.servers.web.labels = { service: "other", "berth.version": "1", team: "ok" })),
      [`berth:servers.web.labels.service: ${own}`, `berth:servers.web.labels["berth.version"]: ${own}`],
    );
    assert.deepEqual(
      problems((c) => (c.accessories = { redis: { image: "redis:7.4", host: "web-1", labels: { role: "cache" } } })),
      [`berth:accessories.redis.labels.role: ${own}`],
    );
  });

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
