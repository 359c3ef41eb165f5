// Stack tier for the topologies under examples/: each example stack file renders through the entry
// Pulumi.yaml names, under mocks, and its resources are the ones its comments promise.
import assert from "node:assert/strict";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import { missingCredentials } from "../../cli/doctor";
import { audit, resolveMarked, violations } from "../../guard/secrets";
import { sentinels } from "../../guard/matrix";
import { byType, named, Recorded, ROOT, runIndex, stackConfig } from "../support/harness";

const T = {
  server: "hcloud:index/server:Server",
  network: "hcloud:index/network:Network",
  subnet: "hcloud:index/networkSubnet:NetworkSubnet",
  lb: "hcloud:index/loadBalancer:LoadBalancer",
  rrset: "hcloud:index/zoneRrset:ZoneRrset",
  cfRecord: "cloudflare:index/dnsRecord:DnsRecord",
  originCert: "cloudflare:index/originCaCertificate:OriginCaCertificate",
  container: "docker:index/container:Container",
  command: "command:remote:Command",
  proxy: "berth:proxy:Proxy",
};

const envOf = (r: Recorded) => r.inputs.envs as string[];
const labelsOf = (r: Recorded) =>
  Object.fromEntries((r.inputs.labels as { label: string; value: string }[]).map((l) => [l.label, l.value]));
/** App containers (not accessories, not kamal-proxy) of a service. */
const appContainers = (resources: Recorded[], service: string) =>
  byType(resources, T.container).filter((c) => labelsOf(c).service === service && labelsOf(c).role !== undefined);

describe("example: two web hosts behind Cloudflare (examples/cloudflare)", () => {
  let resources: Recorded[];
  let outputs: Record<string, any>;
  before(async () => ({ resources, outputs } = await runIndex("cloudflare", stackConfig("cloudflare"))));

  it("creates no Hetzner load balancer and no Hetzner DNS records", () => {
    assert.equal(byType(resources, T.lb).length, 0);
    assert.equal(byType(resources, T.rrset).length, 0);
    assert.equal(byType(resources, T.server).length, 2);
  });

  it("points proxied A and AAAA records of the one name at both web hosts", () => {
    const records = byType(resources, T.cfRecord);
    assert.equal(records.length, 4);
    for (const r of records) {
      assert.equal(r.inputs.name, "shop.example.com");
      assert.equal(r.inputs.proxied, true);
      assert.equal(r.inputs.ttl, 1, "proxied records take Cloudflare's automatic TTL");
    }
    const a = records.filter((r) => r.inputs.type === "A").map((r) => r.inputs.content);
    const hostIps = ["web-1", "web-2"].map((h) => outputs.hosts[h].ipv4);
    assert.deepEqual(a.sort(), [...hostIps].sort());
    const listed = outputs.dnsRecords.find((r: any) => r.type === "A");
    assert.deepEqual([...listed.values].sort(), [...hostIps].sort());
  });

  it("installs a Cloudflare Origin CA certificate into each kamal-proxy and routes with it, the key only on stdin", () => {
    const cert = named(resources, "shop-web-origin-certificate");
    assert.equal(cert.type, T.originCert);
    assert.deepEqual(cert.inputs.hostnames, ["shop.example.com"]);
    for (const host of ["web-1", "web-2"]) {
      const install = named(resources, `shop-web-${host}-certificate`);
      assert.match(install.inputs.stdin, /BEGIN PRIVATE KEY[\s\S]*BEGIN CERTIFICATE/);
      assert.doesNotMatch(install.inputs.create, /PRIVATE KEY-----\n\(/, "the key never reaches the command line");
      assert.ok(JSON.stringify(install.raw.stdin).includes("1b47061264138c4ac30d75fd1eb44270"), "stdin is a secret");
      const route = named(resources, `shop-web-${host}-route`);
      assert.match(route.inputs.create, /--tls --tls-redirect=true --tls-certificate-path=\S+cert\.pem/);
      assert.match(route.inputs.create, /--forward-headers=true/, "Cloudflare's X-Forwarded-* reach the app");
      assert.ok(route.dependencies.includes(install.urn), "the route switches only once the certificate is there");
    }
  });

  it("gives the host tagged primary its tag's env and its own labels, the other host neither", () => {
    const [one, two] = ["web-1", "web-2"].map((h) =>
      appContainers(resources, "shop").find((c) => envOf(c).includes(`KAMAL_HOST=${h}`))!,
    );
    assert.ok(envOf(one).includes("SQLITE_WRITER=true"));
    assert.equal(labelsOf(one).sqlite, "writer");
    assert.ok(!envOf(two).includes("SQLITE_WRITER=true"));
    assert.equal(labelsOf(two).sqlite, undefined);
  });
});

describe("example: one server stack, two app stacks (examples/shared-server)", () => {
  let server: { resources: Recorded[]; outputs: Record<string, any> };
  const apps: Record<string, { resources: Recorded[]; outputs: Record<string, any> }> = {};
  before(async () => {
    server = await runIndex("apps", stackConfig("apps"));
    for (const app of ["blog", "shop"])
      apps[app] = await runIndex(app, stackConfig(app), undefined, { apps: server.outputs });
  });

  it("the server stack owns the server and kamal-proxy, runs no app and exports them as shared", () => {
    assert.equal(byType(server.resources, T.server).length, 1);
    assert.equal(byType(server.resources, T.proxy).length, 1);
    assert.equal(byType(server.resources, T.container).length, 1, "only kamal-proxy's container");
    const shared = server.outputs.shared.hosts["box-1"];
    assert.equal(shared.ipv4, server.outputs.hosts["box-1"].ipv4);
    assert.ok(shared.proxy, "the proxy container id app stacks route through");
  });

  it("each app stack creates no server and no proxy, and reaches the server stack's address", () => {
    for (const [name, app] of Object.entries(apps)) {
      assert.equal(byType(app.resources, T.server).length, 0, name);
      assert.equal(byType(app.resources, T.proxy).length, 0, name);
      assert.equal(byType(app.resources, T.network).length, 0, name);
      const ready = named(app.resources, "box-1-ready");
      assert.equal(ready.inputs.connection.host, server.outputs.hosts["box-1"].ipv4, name);
      const route = named(app.resources, `${name}-web-box-1-route`);
      assert.match(
        route.inputs.create,
        new RegExp(`through kamal-proxy container ${server.outputs.shared.hosts["box-1"].proxy}`),
      );
    }
  });

  it("no container, volume or route name of one app is a name of the other", () => {
    const namesOf = (app: string) => {
      const r = apps[app].resources;
      const containers = byType(r, T.container).map((c) => c.inputs.name as string);
      const volumes = byType(r, T.container).flatMap((c) =>
        ((c.inputs.volumes ?? []) as { volumeName?: string }[]).flatMap((v) => (v.volumeName ? [v.volumeName] : [])),
      );
      const routes = byType(r, T.command).flatMap((c) =>
        [...String(c.inputs.create ?? "").matchAll(/kamal-proxy deploy (\S+)/g)].map((m) => m[1]),
      );
      return { containers, volumes, routes };
    };
    const blog = namesOf("blog");
    const shop = namesOf("shop");
    assert.ok(blog.volumes.includes("blog-blog-storage"), blog.volumes.join(","));
    assert.ok(shop.volumes.includes("shop-shop-storage"), shop.volumes.join(","));
    assert.ok(blog.routes.length > 0 && shop.routes.length > 0);
    for (const kind of ["containers", "volumes", "routes"] as const)
      for (const n of blog[kind]) assert.ok(!shop[kind].includes(n), `${kind}: ${n} in both apps`);
  });

  it("re-asserts an app's route and readiness when the server stack's proxy or machine is replaced", async () => {
    const changed = structuredClone(server.outputs);
    changed.shared.hosts["box-1"].proxy = "replaced-proxy-id";
    changed.shared.hosts["box-1"].generation = "replaced-generation";
    const again = (await runIndex("blog", stackConfig("blog"), undefined, { apps: changed })).resources;
    const route = (r: Recorded[]) => named(r, "blog-web-box-1-route").inputs.create;
    assert.notEqual(route(again), route(apps.blog.resources), "a new kamal-proxy gets the route again");
    assert.match(route(again), /through kamal-proxy container replaced-proxy-id/);
    assert.ok(named(again, "box-1-ready").inputs.triggers.includes("replaced-generation"));
    assert.ok(!named(apps.blog.resources, "box-1-ready").inputs.triggers.includes("replaced-generation"));
  });

  it("each app has its own DNS records pointing at the shared server", () => {
    const ip = server.outputs.hosts["box-1"].ipv4;
    const names = (app: string) =>
      byType(apps[app].resources, T.rrset)
        .filter((r) => r.inputs.type === "A")
        .map((r) => [r.inputs.name, r.inputs.records.map((x: any) => x.value)]);
    assert.deepEqual(names("blog"), [
      ["@", [ip]],
      ["www", [ip]],
    ]);
    assert.deepEqual(names("shop"), [["@", [ip]]]);
  });
});

describe("example: workers only (examples/workers)", () => {
  let resources: Recorded[];
  before(async () => ({ resources } = await runIndex("workers", stackConfig("workers"))));

  it("runs the job role on two hosts with no kamal-proxy, route, DNS or load balancer", () => {
    assert.equal(byType(resources, T.proxy).length, 0);
    assert.equal(byType(resources, T.lb).length, 0);
    assert.equal(byType(resources, T.rrset).length, 0);
    assert.equal(byType(resources, T.command).filter((c) => /kamal-proxy/.test(String(c.inputs.create))).length, 0);
    const jobs = appContainers(resources, "workers");
    assert.equal(jobs.length, 2);
    for (const j of jobs) assert.deepEqual(j.inputs.command, ["bundle", "exec", "sidekiq", "-C", "config/sidekiq.yml"]);
  });

  it("publishes Redis on the cache host's private address only", () => {
    const cache = named(resources, "cache-cache-1");
    assert.deepEqual(cache.inputs.ports, [{ external: 6379, internal: 6379, ip: "10.0.1.20", protocol: "tcp" }]);
  });
});

describe("example: two regions (examples/regions)", () => {
  let resources: Recorded[];
  let outputs: Record<string, any>;
  before(async () => ({ resources, outputs } = await runIndex("regions", stackConfig("regions"))));

  it("gives each network zone its own private network, the first zone keeping the stack's name", () => {
    const networks = byType(resources, T.network).map((n) => n.inputs.name);
    assert.deepEqual(networks.sort(), ["global-regions", "global-regions-us-east"]);
    const subnets = Object.fromEntries(
      byType(resources, T.subnet).map((s) => [s.inputs.networkZone, s.inputs.networkId]),
    );
    const serverNet = (host: string) => named(resources, `${host}-server`).inputs.networks[0].networkId;
    assert.equal(serverNet("web-eu"), subnets["eu-central"]);
    assert.equal(serverNet("web-us"), subnets["us-east"]);
  });

  it("creates no load balancer and lists the records for both hosts (provider none)", () => {
    assert.equal(byType(resources, T.lb).length, 0);
    assert.equal(byType(resources, T.rrset).length + byType(resources, T.cfRecord).length, 0);
    const a = outputs.dnsRecords.find((r: any) => r.type === "A");
    assert.deepEqual([...a.values].sort(), [outputs.hosts["web-eu"].ipv4, outputs.hosts["web-us"].ipv4].sort());
  });

  it("runs the cache beside each web host on loopback", () => {
    for (const host of ["web-eu", "web-us"])
      assert.equal(named(resources, `cache-${host}`).inputs.ports[0].ip, "127.0.0.1");
  });
});

describe("examples: secrets stay secret", () => {
  it("no secret of the Cloudflare, worker, region or app stacks reaches a name, a command line or a plain output", async () => {
    const server = await runIndex("apps", stackConfig("apps"));
    for (const stack of ["cloudflare", "workers", "regions", "apps", "blog", "shop"]) {
      const run = await runIndex(stack, stackConfig(stack), undefined, { apps: server.outputs });
      const result = audit(run.resources, await resolveMarked(run.exports), sentinels(stack));
      assert.deepEqual(violations(result), [], stack);
      if (Object.keys(sentinels(stack)).length > 0)
        assert.ok(result.findings.length > 0, `${stack}: the audit saw its secrets`);
    }
  });
});

describe("examples: berth doctor's offline read", () => {
  const dir = (d: string) => path.join(ROOT, "examples", d);

  it("checks an app stack's configuration without the server stack's outputs, and asks a server stack for no version", () => {
    const server = missingCredentials(dir("shared-server"), "apps");
    assert.deepEqual(server.problems, []);
    assert.equal(server.versionUnset, false);
    assert.ok(server.missing.includes("hcloud:token"));
    const app = missingCredentials(dir("shared-server"), "blog");
    assert.deepEqual(app.problems, []);
    assert.ok(!app.missing.includes("hcloud:token"), "an attached app creates no Hetzner resource");
    assert.ok(app.missing.includes("berth:secrets.LITESTREAM_SECRET_ACCESS_KEY"));
  });

  it("names the Cloudflare API token a Cloudflare stack needs", () => {
    const cf = missingCredentials(dir("cloudflare"), "cloudflare");
    assert.deepEqual(cf.problems, []);
    assert.ok(cf.missing.includes("cloudflare:apiToken"), cf.missing.join(", "));
    assert.ok(!missingCredentials(dir("regions"), "regions").missing.includes("cloudflare:apiToken"));
  });
});
