// Unit tier for hosts, platform and DNS: the inputs that decide safety and reachability.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { firewallRules } from "../../components/platform";
import { forcesReplacement } from "../../guard/replacement";
import { byType, createZone, named, runIndex, stackConfig, transitiveDependencies } from "../support/harness";
import { minimalConfig, RawConfig, renderConfig, TEST_HOST_KEY, TEST_PUBLIC_KEY } from "../support/configs";

/** The staging stack of `raw`'s hosts and roles (each case gives both), at v1. */
const render = (raw: RawConfig) => renderConfig({ ...minimalConfig("v1"), ...raw }, "staging");

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
      hosts: {
        legacy: {
          address: "203.0.113.50",
          ipv6: "2001:db8::50",
          privateAddress: "10.8.0.5",
          hostKeys: [TEST_HOST_KEY],
        },
      },
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
      hostKey: TEST_HOST_KEY,
    });
    assert.equal(ready.inputs.connection.hostKey, TEST_HOST_KEY, "the command provider verifies the pinned key");
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
      hosts: { legacy: { address: "203.0.113.50", hostKeys: [TEST_HOST_KEY] } },
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

  it("creates the zone before the load balancer's certificate, and the records after the load balancer", async () => {
    const { resources } = await runIndex("production", stackConfig("production", createZone));
    const zone = byType(resources, "hcloud:index/zone:Zone")[0];
    assert.equal(zone.parent, "", "the zone stands at the stack's top level");
    const certificate = byType(resources, "hcloud:index/managedCertificate:ManagedCertificate")[0];
    assert.ok(certificate.dependencies.includes(zone.urn), "Hetzner issues the certificate in the zone");
    const lb = byType(resources, "hcloud:index/loadBalancer:LoadBalancer")[0];
    const records = byType(resources, "hcloud:index/zoneRrset:ZoneRrset");
    assert.ok(records.length > 0);
    for (const r of records) {
      assert.ok(r.dependencies.includes(zone.urn), `${r.name} waits for the zone`);
      assert.ok(r.dependencies.includes(lb.urn), `${r.name} points at the load balancer`);
    }
  });

  it("uses a private key from the secrets for berth's SSH steps, kept secret", async () => {
    const { resources } = await render({
      hosts: { "web-1": { serverType: "cx23", location: "fsn1" } },
      servers: { web: { hosts: ["web-1"] } },
      ssh: { publicKey: TEST_PUBLIC_KEY, user: "deploy", port: 2222, privateKeySecret: "SSH_KEY" },
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

describe("replacing a server", () => {
  const stack = (replace?: string) => ({
    hosts: {
      "db-1": {
        serverType: "cx23",
        location: "fsn1",
        stateful: true,
        volumes: { pgdata: { size: 20 } },
        ...(replace ? { replace } : {}),
      },
    },
    servers: { web: { hosts: ["db-1"] } },
  });

  it("deletes the old server first, so the replacement can take its name and its primary IPs", async () => {
    const { resources } = await render(stack());
    const server = named(resources, "db-1-server");
    assert.equal(server.deleteBeforeReplace, true);
    assert.equal(server.inputs.name, "shop-staging-db-1");
    for (const ip of ["db-1-ipv4", "db-1-ipv6"]) {
      const r = named(resources, ip);
      assert.equal(r.inputs.autoDelete, false, "kept when the server goes");
      assert.equal(r.inputs.assigneeType, undefined, "assigned through the server, not half-configured");
      assert.equal(r.protect, true);
    }
    assert.ok(server.inputs.publicNets[0].ipv4 !== undefined);
  });

  it("never detaches a data volume before its server is gone", async () => {
    const { resources } = await render(stack());
    assert.equal(named(resources, "db-1-pgdata-attachment").deletedWith, named(resources, "db-1-server").urn);
  });

  it("mounts the volume, writes accessory directories and files again on the new machine", async () => {
    const { resources } = await render({
      ...stack(),
      accessories: {
        db: {
          image: "postgres:17.2",
          host: "db-1",
          volume: "pgdata",
          files: [{ content: "x", target: "/etc/x.conf" }],
          postgres: { database: "shop", user: "shop", passwordSecret: "PG" },
        },
      },
      secrets: { PG: "pw", BERTH_FINGERPRINT_KEY: "k".repeat(64) },
    });
    const generation = named(resources, "db-1-ready").urn;
    for (const name of [
      "db-1-pgdata-mount",
      "db-db-1-directories",
      "db-db-1-file-etc-x.conf",
      "db-db-1-password-file",
    ]) {
      const r = named(resources, name);
      assert.ok(r.propertyDependencies.triggers?.includes(generation), `${name} runs again on a replaced server`);
    }
    const container = named(resources, "db-db-1");
    assert.ok(transitiveDependencies(resources, container).has(named(resources, "db-1-pgdata-mount").urn));
  });

  it("keeps a data server protected until `replace` lifts it; `rebuild` stops ignoring bootstrap, image and key", async () => {
    const locked = named((await render(stack())).resources, "db-1-server");
    assert.equal(locked.protect, true);
    assert.equal(locked.inputs.deleteProtection, true);
    assert.equal(locked.inputs.rebuildProtection, true);
    assert.deepEqual(locked.ignoreChanges.sort(), ["image", "sshKeys", "userData"]);
    const open = named((await render(stack("unprotect"))).resources, "db-1-server");
    assert.equal(open.protect, false);
    assert.equal(open.inputs.deleteProtection, false);
    assert.equal(open.inputs.rebuildProtection, false);
    assert.deepEqual(open.ignoreChanges.sort(), ["image", "sshKeys", "userData"]);
    const rebuild = (await render(stack("rebuild"))).resources;
    assert.deepEqual(named(rebuild, "db-1-server").ignoreChanges, []);
    assert.equal(named(rebuild, "db-1-pgdata-volume").protect, true, "the volume stays protected");
    assert.equal(named(rebuild, "db-1-ipv4").protect, true, "so do its addresses");
  });
});

describe("remote commands", () => {
  it("never send their last output back as variables sshd refuses", async () => {
    const { resources } = await render({
      hosts: { "db-1": { serverType: "cx23", location: "fsn1", volumes: { pgdata: { size: 20 } } } },
      servers: { web: { hosts: ["db-1"] } },
      accessories: {
        db: {
          image: "postgres:17.2",
          host: "db-1",
          volume: "pgdata",
          directories: ["conf:/etc/conf"],
          postgres: { database: "shop", user: "shop", passwordSecret: "PG", extensions: ["postgis"] },
        },
      },
      secrets: { PG: "pw", BERTH_FINGERPRINT_KEY: "k".repeat(64) },
    });
    const app = resources.find((r) => r.type === "berth:app:App")!.urn;
    const outside = byType(resources, "command:remote:Command").filter((r) => r.parent !== app);
    assert.ok(outside.length >= 7, outside.map((r) => r.name).join(", "));
    for (const r of outside) assert.equal(r.inputs.addPreviousOutputInEnv, false, r.name);
  });
});

describe("Hetzner names", () => {
  it("uses an SSH key already in the project by name instead of registering the same key again", async () => {
    const { resources } = await render({
      hosts: { "web-1": { serverType: "cx23", location: "fsn1" } },
      servers: { web: { hosts: ["web-1"] } },
      ssh: { publicKey: TEST_PUBLIC_KEY, hetznerKeyName: "deploy" },
    });
    assert.equal(byType(resources, "hcloud:index/sshKey:SshKey").length, 0);
    assert.deepEqual(named(resources, "web-1-server").inputs.sshKeys, ["deploy"]);
  });
});

describe("the load balancer's certificate", () => {
  it("gets a new name with a new domain list, so Hetzner can create it before the old one goes", async () => {
    const before = (await runIndex("production", stackConfig("production"))).resources;
    const after = (
      await runIndex(
        "production",
        stackConfig("production", (c) => (c["berth:dns"] as any).hosts.push("shop.example.com")),
      )
    ).resources;
    const [old, next] = [before, after].map(
      (rs) => byType(rs, "hcloud:index/managedCertificate:ManagedCertificate")[0],
    );
    assert.ok(forcesReplacement(next.type, "domainNames"), "its domains cannot change in place");
    assert.equal(next.deleteBeforeReplace, false, "created before the old one is deleted: no gap in TLS");
    assert.match(old.inputs.name, /^myapp-production-[0-9a-f]{8}$/);
    assert.notEqual(next.inputs.name, old.inputs.name, "two certificates live at once: their names differ");
    assert.deepEqual(next.inputs.domainNames, ["example.com", "www.example.com", "shop.example.com"]);
    const https = byType(after, "hcloud:index/loadBalancerService:LoadBalancerService")[0];
    assert.ok(https.propertyDependencies.http.includes(next.urn), "the listener moves to the new certificate");
    assert.ok(!forcesReplacement(https.type, "http"), "in place");
  });
});
