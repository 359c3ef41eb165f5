// Unit tier for hosts, platform and DNS: the inputs that decide safety and reachability.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { parseConfig } from "../config/load";
import { secretsFrom } from "../config/stack";
import { deploy, stackOutputs } from "../components/deployment";
import { firewallRules } from "../components/platform";
import { byType, named, run } from "./harness";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestKey test@example.com";

function render(raw: Record<string, any>) {
  const cfg = parseConfig(
    { service: "shop", image: "ghcr.io/acme/shop", version: "v1", ssh: { publicKey: KEY }, ...raw },
    "staging",
  );
  return run({
    stack: "staging",
    program: () =>
      stackOutputs(cfg, deploy(cfg, secretsFrom(pulumi.secret<Record<string, string>>(raw.secrets ?? {})))),
  });
}

describe("firewall", () => {
  it("lets in SSH from the configured ranges, HTTP and HTTPS, and nothing else", () => {
    assert.deepEqual(firewallRules(2222, ["198.51.100.0/24"]), [
      { direction: "in", protocol: "tcp", port: "2222", sourceIps: ["198.51.100.0/24"], description: "SSH" },
      { direction: "in", protocol: "tcp", port: "80", sourceIps: ["0.0.0.0/0", "::/0"], description: "HTTP" },
      { direction: "in", protocol: "tcp", port: "443", sourceIps: ["0.0.0.0/0", "::/0"], description: "HTTPS" },
    ]);
  });
});

describe("existing machines", () => {
  it("skip provisioning but get the readiness gate and the same outputs", async () => {
    const { resources, outputs } = await render({
      hosts: { legacy: { address: "203.0.113.50", ipv6: "2001:db8::50", privateAddress: "10.8.0.5" } },
      servers: { web: { hosts: ["legacy"] } },
      dns: { zone: "example.com", hosts: ["shop.example.com"] },
    });
    assert.equal(byType(resources, "hcloud:index/server:Server").length, 0);
    assert.equal(
      byType(resources, "hcloud:index/firewall:Firewall").length,
      0,
      "no Hetzner platform without Hetzner hosts",
    );
    const ready = named(resources, "legacy-ready");
    assert.equal(ready.inputs.connection.host, "203.0.113.50");
    assert.deepEqual(ready.inputs.triggers, ["203.0.113.50"]);
    assert.deepEqual(outputs.hosts.legacy, {
      name: "legacy",
      kind: "existing",
      roles: ["web"],
      ipv4: "203.0.113.50",
      ipv6: "2001:db8::50",
      privateIp: "10.8.0.5",
      ssh: "ssh://root@203.0.113.50:22",
    });
    const records = byType(resources, "hcloud:index/zoneRrset:ZoneRrset");
    assert.deepEqual(
      records.map((r) => [r.inputs.type, r.inputs.records]),
      [
        ["A", [{ value: "203.0.113.50" }]],
        ["AAAA", [{ value: "2001:db8::50" }]],
      ],
    );
  });

  it("get no AAAA record without an IPv6 address", async () => {
    const { resources } = await render({
      hosts: { legacy: { address: "203.0.113.50" } },
      servers: { web: { hosts: ["legacy"] } },
      dns: { zone: "example.com", hosts: ["shop.example.com"] },
    });
    assert.deepEqual(
      byType(resources, "hcloud:index/zoneRrset:ZoneRrset").map((r) => r.inputs.type),
      ["A"],
    );
  });
});

describe("hosts and DNS options", () => {
  it("creates a protected zone when asked, and records wait for it", async () => {
    const { resources } = await render({
      hosts: { "web-1": { serverType: "cx23", location: "hel1" } },
      servers: { web: { hosts: ["web-1"] } },
      dns: { zone: "example.com", createZone: true, ttl: 600, hosts: ["example.com"] },
    });
    const zone = byType(resources, "hcloud:index/zone:Zone")[0];
    assert.equal(zone.protect, true);
    assert.equal(zone.inputs.deleteProtection, true);
    assert.equal(zone.inputs.mode, "primary");
    for (const r of byType(resources, "hcloud:index/zoneRrset:ZoneRrset")) {
      assert.ok(r.dependencies.includes(zone.urn), "records are created in the new zone");
      assert.equal(r.inputs.ttl, 600);
      assert.equal(r.inputs.name, "@");
    }
    assert.equal(named(resources, "shop-staging-subnet").inputs.networkZone, "eu-central");
  });

  it("uses a private key from the secrets for berth's SSH steps, kept secret", async () => {
    const { resources } = await render({
      hosts: { "web-1": { serverType: "cx23", location: "fsn1" } },
      servers: { web: { hosts: ["web-1"] } },
      ssh: { publicKey: KEY, user: "deploy", port: 2222, privateKeySecret: "SSH_KEY" },
      secrets: { SSH_KEY: "-----BEGIN OPENSSH PRIVATE KEY-----sentinel" },
    });
    const ready = named(resources, "web-1-ready");
    const conn = ready.raw.connection;
    const secretWrapped = (v: any) => v?.[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig;
    assert.ok(secretWrapped(conn) || secretWrapped(conn.privateKey), "the private key stays a secret");
    assert.equal(ready.inputs.connection.user, "deploy");
    assert.equal(ready.inputs.connection.port, 2222);
    const server = named(resources, "web-1-server");
    assert.match(server.inputs.userData, /name: deploy/);
    assert.match(server.inputs.userData, /Port 2222/);
    assert.match(server.inputs.userData, /PermitRootLogin no/);
    assert.equal(named(resources, "shop-staging-firewall").inputs.rules[0].port, "2222");
  });

  it("mounts each data volume at its path, protected and kept on delete", async () => {
    const { resources } = await render({
      hosts: {
        "db-1": {
          serverType: "cx23",
          location: "fsn1",
          volumes: { pgdata: { size: 20, format: "xfs", mountPath: "/srv/pg" } },
        },
      },
      servers: { web: { hosts: ["db-1"] } },
    });
    const volume = named(resources, "db-1-pgdata-volume");
    assert.equal(volume.protect, true);
    assert.equal(volume.retainOnDelete, true);
    assert.equal(volume.inputs.format, "xfs");
    assert.equal(volume.inputs.location, "fsn1");
    const mount = named(resources, "db-1-pgdata-mount");
    assert.match(mount.inputs.create, /mnt='\/srv\/pg'/);
    assert.match(mount.inputs.create, /scsi-0HC_Volume_\d+/);
  });
});
