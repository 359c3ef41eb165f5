// Stack tier: the real program, loaded through the entry Pulumi.yaml names, run under mocks with
// the real example stack files.
import assert from "node:assert/strict";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { programEntry } from "../../plan/render";
import { byType, named, Recorded, ROOT, runIndex, stackConfig } from "../support/harness";

const T = {
  server: "hcloud:index/server:Server",
  primaryIp: "hcloud:index/primaryIp:PrimaryIp",
  firewall: "hcloud:index/firewall:Firewall",
  subnet: "hcloud:index/networkSubnet:NetworkSubnet",
  placement: "hcloud:index/placementGroup:PlacementGroup",
  lb: "hcloud:index/loadBalancer:LoadBalancer",
  lbTarget: "hcloud:index/loadBalancerTarget:LoadBalancerTarget",
  lbService: "hcloud:index/loadBalancerService:LoadBalancerService",
  cert: "hcloud:index/managedCertificate:ManagedCertificate",
  rrset: "hcloud:index/zoneRrset:ZoneRrset",
  zone: "hcloud:index/zone:Zone",
  volume: "hcloud:index/volume:Volume",
  command: "command:remote:Command",
};

const urnOf = (resources: Recorded[], name: string) => named(resources, name).urn;

describe("stack outputs through Pulumi's entry", () => {
  it("renders through start/index.cjs, whose exports become the stack outputs", async () => {
    assert.equal(programEntry(ROOT), path.join(ROOT, "start", "index.cjs"));
    const { exports, outputs } = await runIndex("production", stackConfig("production"));
    assert.deepEqual(Object.keys(exports).sort(), [
      "accessories",
      // The running canary (berth:canary), none here: what berth rollout reads.
      "canary",
      "databaseUrls",
      "dnsRecords",
      "hosts",
      "knownHosts",
      "loadBalancer",
      "roles",
      "service",
      "shared",
      "stack",
      "version",
    ]);
    assert.equal(outputs.service, "myapp");
    assert.ok(pulumi.Output.isInstance(exports.databaseUrls));
    assert.equal(
      await pulumi.isSecret(exports.databaseUrls),
      true,
      "database URLs leave the program as a secret output",
    );
  });
});

describe("staging stack", () => {
  let resources: Recorded[];
  let outputs: Record<string, any>;
  before(async () => ({ resources, outputs } = await runIndex("staging", stackConfig("staging"))));

  it("creates one server with its primary IPs, firewall and network, and no load balancer", () => {
    assert.deepEqual(
      byType(resources, T.server).map((r) => r.name),
      ["staging-1-server"],
    );
    assert.equal(byType(resources, T.primaryIp).length, 2);
    assert.equal(byType(resources, T.lb).length, 0);
    const server = named(resources, "staging-1-server");
    assert.equal(server.inputs.serverType, "cx23");
    assert.equal(server.inputs.location, "fsn1");
    assert.match(server.inputs.userData, /^#cloud-config\n/);
  });

  it("points staging.example.com at the server", () => {
    const records = byType(resources, T.rrset);
    assert.deepEqual(records.map((r) => `${r.inputs.name} ${r.inputs.type}`).sort(), ["staging A", "staging AAAA"]);
    const a = records.find((r) => r.inputs.type === "A")!;
    assert.deepEqual(a.inputs.records, [{ value: outputs.hosts["staging-1"].ipv4 }]);
    assert.equal(a.inputs.zone, "example.com");
    assert.equal(a.inputs.ttl, 300);
    const aaaa = records.find((r) => r.inputs.type === "AAAA")!;
    assert.deepEqual(aaaa.inputs.records, [{ value: outputs.hosts["staging-1"].ipv6 }]);
  });

  it("exports what the operations CLI reads for each host", () => {
    const h = outputs.hosts["staging-1"];
    assert.deepEqual(Object.keys(h).sort(), ["hostKey", "ipv4", "ipv6", "kind", "name", "privateIp", "roles", "ssh"]);
    assert.equal(h.ssh, `ssh://root@${h.ipv4}:22`);
    assert.deepEqual(h.roles, ["web"]);
    assert.match(h.privateIp, /^10\.0\.1\./);
    assert.equal(outputs.version, "2026.11.1");
  });
});

describe("production stack", () => {
  let resources: Recorded[];
  let outputs: Record<string, any>;
  before(async () => ({ resources, outputs } = await runIndex("production", stackConfig("production"))));

  it("creates four servers that all join the private network and the firewall", () => {
    const servers = byType(resources, T.server);
    assert.deepEqual(servers.map((s) => s.name).sort(), [
      "db-1-server",
      "job-1-server",
      "web-1-server",
      "web-2-server",
    ]);
    const firewall = byType(resources, T.firewall)[0];
    const subnet = byType(resources, T.subnet)[0];
    for (const s of servers) {
      assert.equal(s.inputs.networks.length, 1, `${s.name} joins the network`);
      assert.ok(s.dependencies.includes(subnet.urn), `${s.name} waits for the subnet`);
      assert.ok(s.dependencies.includes(firewall.urn), `${s.name} uses the firewall`);
      assert.deepEqual(s.ignoreChanges.sort(), ["image", "sshKeys", "userData"]);
    }
    assert.equal(named(resources, "db-1-server").inputs.networks[0].ip, "10.0.1.10");
  });

  it("spreads each role's servers over a placement group", () => {
    const groups = byType(resources, T.placement);
    assert.deepEqual(groups.map((g) => g.inputs.name).sort(), ["myapp-production-job", "myapp-production-web"]);
    assert.ok(groups.every((g) => g.inputs.type === "spread"));
    const web = groups.find((g) => g.inputs.name.endsWith("-web"))!;
    for (const s of ["web-1-server", "web-2-server"]) {
      assert.ok(named(resources, s).dependencies.includes(web.urn), `${s} in the web group`);
    }
  });

  it("protects the database host, its addresses and its volume; leaves stateless hosts replaceable", () => {
    const db = named(resources, "db-1-server");
    assert.equal(db.protect, true);
    assert.equal(db.inputs.deleteProtection, true);
    assert.equal(named(resources, "db-1-ipv4").protect, true);
    const volume = named(resources, "db-1-pgdata-volume");
    assert.equal(volume.protect, true);
    assert.equal(volume.retainOnDelete, true);
    assert.equal(volume.inputs.size, 50);
    assert.equal(named(resources, "web-1-server").protect, false);
    for (const ip of byType(resources, T.primaryIp)) assert.equal(ip.inputs.autoDelete, false, ip.name);
  });

  it("puts a load balancer with a managed certificate in front of the two web hosts", () => {
    const lb = byType(resources, T.lb);
    assert.equal(lb.length, 1);
    const cert = byType(resources, T.cert)[0];
    assert.deepEqual(cert.inputs.domainNames, ["example.com", "www.example.com"]);
    const svc = byType(resources, T.lbService)[0];
    assert.equal(svc.inputs.protocol, "https");
    assert.equal(svc.inputs.listenPort, 443);
    assert.equal(svc.inputs.destinationPort, 80);
    assert.equal(svc.inputs.http.redirectHttp, true);
    assert.equal(svc.inputs.healthCheck.http.path, "/up");
    assert.equal(svc.inputs.healthCheck.http.domain, "example.com");
    const targets = byType(resources, T.lbTarget);
    assert.deepEqual(targets.map((t) => t.name).sort(), [
      "myapp-production-target-web-1",
      "myapp-production-target-web-2",
    ]);
    for (const t of targets) {
      assert.equal(t.inputs.usePrivateIp, true);
      assert.equal(t.inputs.type, "server");
    }
  });

  it("points the apex and www at the load balancer", () => {
    const records = byType(resources, T.rrset);
    assert.deepEqual(records.map((r) => `${r.inputs.name} ${r.inputs.type}`).sort(), [
      "@ A",
      "@ AAAA",
      "www A",
      "www AAAA",
    ]);
    for (const r of records) {
      const ip = r.inputs.type === "A" ? outputs.loadBalancer.ipv4 : outputs.loadBalancer.ipv6;
      assert.deepEqual(r.inputs.records, [{ value: ip }]);
    }
    assert.equal(byType(resources, T.zone).length, 0, "uses the existing zone");
  });

  it("gates each host on readiness and mounts the database volume after it", () => {
    for (const host of ["web-1", "web-2", "job-1", "db-1"]) {
      const ready = named(resources, `${host}-ready`);
      assert.ok(ready.dependencies.includes(urnOf(resources, `${host}-server`)), `${host} gate waits for its server`);
      assert.match(ready.inputs.create, /cloud-init status --wait/);
      const provider = named(resources, `${host}-docker`);
      assert.ok(provider.dependencies.includes(ready.urn), `${host} docker provider waits for the gate`);
    }
    const mount = named(resources, "db-1-pgdata-mount");
    assert.ok(mount.dependencies.includes(urnOf(resources, "db-1-ready")));
    assert.ok(mount.dependencies.includes(urnOf(resources, "db-1-pgdata-attachment")));
    assert.match(mount.inputs.create, /\/mnt\/berth\/pgdata/);
  });
});

describe("invalid configuration", () => {
  let error: (Error & { registered?: number }) | undefined;
  let completed = false;
  before(async () => {
    const bad = stackConfig("production", (c: any) => {
      c["berth:hosts"]["web-2"].serverType = undefined;
      c["berth:servers"].job.hosts.push("job-9");
    });
    try {
      await runIndex("production", bad);
      completed = true;
    } catch (err) {
      error = err as Error;
    }
  });

  it("stops the program with every problem and registers no resource", () => {
    assert.equal(completed, false, "the program must not complete");
    assert.ok(error instanceof Error);
    assert.equal(error.registered, 0, "no resource may be registered");
    assert.equal(error.constructor.name, "RunError", "RunError is shown by Pulumi without a stack trace");
    // Each names its config path and, since the program runs beside Pulumi.production.yaml, where
    // that path is written in it.
    assert.match(error.message, /berth:hosts\.web-2\.serverType \(Pulumi\.production\.yaml:\d+:\d+\): required/);
    assert.match(
      error.message,
      /berth:servers\.job\.hosts\[1\] \(Pulumi\.production\.yaml:\d+:\d+\): unknown host "job-9"/,
    );
  });
});
