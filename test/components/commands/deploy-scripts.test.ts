// berth's deploy scripts run for real, over SSH, against a real dockerd on loopback: the route
// switch (against a stand-in kamal-proxy), the image prune and the asset copy. The scripts are the
// ones the program sends (components/commands/); what decides when each runs is tested under
// mocks in test/components/app.test.ts.
import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { assetScript, assetVolumeDir, pruneImagesScript } from "../../../components/commands/app";
import { PROXY_CONTAINER } from "../../../config/names";
import { routeScript } from "../../../components/commands/proxy";
import { Loopback, startLoopback, startProxyAndApp, TEST_PROXY } from "../../support/loopback";

const PROXY = TEST_PROXY;
const SERVICE = "shop-web-production";

describe("host scripts on a real dockerd over SSH", { timeout: 300_000 }, () => {
  let host: Loopback;
  let app: string;
  before(async () => {
    host = await startLoopback();
    // The app: answers /up while healthy; the broken build never does.
    app = startProxyAndApp(host);
  });
  after(async () => host?.stop());

  const served = () => host.docker(["exec", PROXY_CONTAINER, "cat", `/state/${SERVICE}`]).trim();
  const start = (name: string, cmd: string[] = []) =>
    host.docker(["run", "-d", "--name", name, "--network", "kamal", "--network-alias", name, app, ...cmd]);
  const route = (container: string) =>
    host.run(routeScript(SERVICE, container, PROXY, { container: `id-of-${container}`, proxy: "id-of-proxy" }));

  it("route: switches to a healthy container, refuses a broken one, and switches back on rollback", () => {
    start("shop-web-production-v1-aaaa0001");
    start("shop-web-production-v2-aaaa0002");
    start("shop-web-production-v3-aaaa0003", ["sh", "-c", "echo v3 cannot reach its database; exec sleep 3600"]);

    let r = route("shop-web-production-v1-aaaa0001");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /berth: shop-web-production now served by shop-web-production-v1-aaaa0001/);
    assert.equal(served(), "shop-web-production-v1-aaaa0001:80");

    r = route("shop-web-production-v2-aaaa0002");
    assert.equal(r.status, 0, r.stderr);
    assert.equal(served(), "shop-web-production-v2-aaaa0002:80");

    // A failed health check fails the step with the container's last lines; v2 keeps serving.
    r = route("shop-web-production-v3-aaaa0003");
    assert.equal(r.status, 1);
    assert.match(r.stderr, /shop-web-production-v3-aaaa0003 did not pass its health check \(GET \/up on port 80\)/);
    assert.match(r.stderr, /v3 cannot reach its database/);
    assert.equal(served(), "shop-web-production-v2-aaaa0002:80");

    // The rollback's route step: the proxy serves v2, the program's container is v1.
    r = route("shop-web-production-v1-aaaa0001");
    assert.equal(r.status, 0, r.stderr);
    assert.equal(served(), "shop-web-production-v1-aaaa0001:80");
    // Asserting the route it already serves is harmless.
    assert.equal(route("shop-web-production-v1-aaaa0001").status, 0);
    assert.equal(served(), "shop-web-production-v1-aaaa0001:80");
  });

  it("prune: keeps the deployed image and the last retained deploys of every stack on the host", () => {
    const repo = "ghcr.io/acme/prune";
    const ids: Record<string, string> = {};
    // The image step of a deploy: pulled onto the host (here: built there) if it is not there.
    const pull = (v: string) => {
      if (!host.docker(["image", "ls", "-q", `${repo}:${v}`]).trim())
        ids[v] = host.build(`${repo}:${v}`, [`RUN echo ${v} > /version`]);
    };
    for (const v of ["1", "2", "3", "4", "5"]) pull(v);
    const other = host.build("ghcr.io/acme/other:1", ["RUN echo other > /version"]);
    const appsRoot = path.join(host.tmp, "apps");
    const present = () => new Set(host.docker(["image", "ls", "--no-trunc", "--format", "{{.ID}}"]).split("\n"));
    // One deploy as Pulumi runs it: the new container, the switch, the prune, then the old
    // container deleted at the end of the update.
    const containers: Record<string, string> = {};
    const deploy = (stack: string, version: string) => {
      const name = `shop-${stack}-${version}`;
      pull(version);
      host.docker(["create", "--name", name, `${repo}:${version}`]);
      const r = host.run(
        pruneImagesScript({
          image: repo,
          ref: `${repo}:${version}`,
          keep: 2,
          dir: `${appsRoot}/shop-${stack}`,
          appsRoot,
        }),
      );
      assert.equal(r.status, 0, r.stderr);
      if (containers[stack]) host.docker(["rm", containers[stack]]);
      containers[stack] = name;
    };

    // Production deploys 1, 2, 3; staging, on the same host, deploys 5 and then 4. With
    // retainContainers 2, production keeps 3 (deployed) and 2 (its rollback target) though newer
    // builds exist, and staging's prune keeps them too.
    deploy("production", "1");
    deploy("production", "2");
    deploy("staging", "5");
    deploy("production", "3");
    deploy("staging", "4");
    let images = present();
    for (const v of ["2", "3", "4", "5"]) assert.ok(images.has(ids[v]), `${repo}:${v} is kept`);
    assert.ok(!images.has(ids["1"]), `${repo}:1 is removed`);
    assert.ok(images.has(other), "another repository's image is never touched");

    // Rolling back production to 2 needs no pull; afterwards 3, the way forward again, stays.
    assert.ok(images.has(ids["2"]));
    deploy("production", "2");
    images = present();
    for (const v of ["2", "3", "4", "5"]) assert.ok(images.has(ids[v]), `${repo}:${v} is kept after the rollback`);
    // A third production deploy lets 3 go: it is neither deployed nor among the last two.
    deploy("production", "5");
    images = present();
    assert.ok(images.has(ids["2"]) && images.has(ids["5"]) && images.has(ids["4"]));
    assert.ok(!images.has(ids["3"]), `${repo}:3 is removed once no stack keeps it`);
  });

  it("assets: copies from the image by id (as pulled by digest), never pulling, and bridges versions", () => {
    const build = (v: string) =>
      host.build(`ghcr.io/acme/built:${v}-local`, [`RUN mkdir -p /app/assets && echo ${v} > /app/assets/app-${v}.css`]);
    const v1 = build("1");
    const v2 = build("2");
    const dir = path.join(host.tmp, "assets");
    const args = (version: string, image: string) => ({
      dir,
      role: "web",
      version,
      image,
      assetPath: "/app/assets",
      keep: 3,
    });
    for (const [version, image] of [
      ["v1", v1],
      ["v2", v2],
    ]) {
      const r = host.run(assetScript(args(version, image)));
      assert.equal(r.status, 0, r.stderr);
    }
    const list = (version: string) =>
      host
        .run(`ls ${assetVolumeDir(args(version, ""))}`)
        .stdout.trim()
        .split("\n")
        .sort();
    assert.deepEqual(list("v2"), ["app-1.css", "app-2.css"], "the new container serves the old assets too");
    assert.deepEqual(list("v1"), ["app-1.css", "app-2.css"], "the old container serves the new assets too");
    // An image the host does not have fails at once instead of an unauthenticated pull.
    const missing = host.run(assetScript(args("v3", `sha256:${"0".repeat(64)}`)));
    assert.notEqual(missing.status, 0);
    assert.doesNotMatch(missing.stderr, /Pulling|pull access denied/);
  });
});
