// Stacks that share one Hetzner project: the example staging and production stacks, and two apps
// with the same host names. Hetzner refuses a second resource with a name its project already
// has (servers, networks, firewalls, placement groups, load balancers, certificates, volumes,
// primary IPs, SSH keys), a second SSH key with the same fingerprint, and DNS owns one record
// set per zone, name and type.
import assert from "node:assert/strict";
import * as crypto from "node:crypto";
import { describe, it } from "node:test";
import { Recorded, runIndex, stackConfig } from "../support/harness";

const UNIQUE_NAME = [
  "hcloud:index/server:Server",
  "hcloud:index/network:Network",
  "hcloud:index/firewall:Firewall",
  "hcloud:index/placementGroup:PlacementGroup",
  "hcloud:index/loadBalancer:LoadBalancer",
  "hcloud:index/managedCertificate:ManagedCertificate",
  "hcloud:index/volume:Volume",
  "hcloud:index/primaryIp:PrimaryIp",
  "hcloud:index/sshKey:SshKey",
  "hcloud:index/zone:Zone",
];

/** What one stack claims in the project: unique names, key fingerprints and DNS record sets. */
function claims(resources: Recorded[]): string[] {
  const out: string[] = [];
  for (const r of resources) {
    if (UNIQUE_NAME.includes(r.type)) out.push(`${r.type.split(":").pop()} name ${r.inputs.name}`);
    if (r.type === "hcloud:index/sshKey:SshKey") {
      const blob = Buffer.from(String(r.inputs.publicKey).split(" ")[1], "base64");
      out.push(`SSH key fingerprint ${crypto.createHash("sha256").update(blob).digest("base64")}`);
    }
    if (r.type === "hcloud:index/zoneRrset:ZoneRrset")
      out.push(`record ${r.inputs.zone} ${r.inputs.name} ${r.inputs.type}`);
  }
  return out;
}

function shared(a: Recorded[], b: Recorded[]): string[] {
  const theirs = new Set(claims(b));
  return claims(a).filter((c) => theirs.has(c));
}

describe("stacks sharing one Hetzner project", () => {
  it("the example staging and production stacks claim no name, key or record set twice", async () => {
    const staging = (await runIndex("staging", stackConfig("staging"))).resources;
    const production = (await runIndex("production", stackConfig("production"))).resources;
    assert.ok(claims(production).some((c) => c.startsWith("Server name ")));
    assert.deepEqual(shared(staging, production), []);
  });

  it("staging and production with the same host names, each registering its own key", async () => {
    const asHosts = (stack: string) =>
      stackConfig(stack, (c) => {
        c["berth:hosts"] = { "web-1": { serverType: "cx23", location: "fsn1" } };
        c["berth:servers"] = { web: { hosts: ["web-1"] } };
        delete c["berth:accessories"];
        c["berth:ssh"] = {
          publicKey: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${stack === "staging" ? "Staging" : "Product"}KeyOfItsOwn00000000000000000 x`,
        };
      });
    const staging = (await runIndex("staging", asHosts("staging"))).resources;
    const production = (await runIndex("production", asHosts("production"))).resources;
    assert.deepEqual(shared(staging, production), []);
    // The same key registered by both is what Hetzner refuses, and what berth:ssh.hetznerKeyName avoids.
    const sameKey = (
      await runIndex(
        "staging",
        stackConfig("staging", (c) => delete (c["berth:ssh"] as any).hetznerKeyName),
      )
    ).resources;
    const sameKeyToo = (
      await runIndex(
        "production",
        stackConfig("production", (c) => delete (c["berth:ssh"] as any).hetznerKeyName),
      )
    ).resources;
    assert.deepEqual(
      shared(sameKey, sameKeyToo).filter((c) => c.startsWith("SSH key fingerprint")).length,
      1,
      "the check sees a shared key",
    );
  });

  it("two apps with the same host names and the same shared key", async () => {
    const app = (service: string) =>
      stackConfig("production", (c) => {
        c["berth:service"] = service;
        (c["berth:dns"] as any).hosts = [`${service}.example.com`];
      });
    const one = (await runIndex("production", app("myapp"))).resources;
    const two = (await runIndex("production", app("shop"))).resources;
    assert.deepEqual(shared(one, two), []);
  });
});
