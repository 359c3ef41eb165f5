// Longer than 400 lines: the app deploy's options, proxy, hooks and routes all render through one base configuration, one render per case.
// Unit tier for the app deploy: every option reaches the docker / command inputs it should.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { parseConfig } from "../../config/load";
import { byType, diffRenders, named, Recorded, transitiveDependencies } from "../support/harness";
import { appConfig, Change, renderConfig } from "../support/configs";

const render = (change?: Change) => renderConfig(appConfig(change));

/** An app container by its logical name without the fingerprint: `<app>-<role>-<host>-<version>`. */
function appContainer(resources: Recorded[], prefix: string): Recorded {
  const found = resources.filter(
    (r) => r.type === "docker:index/container:Container" && new RegExp(`^${prefix}-[0-9a-f]{8}$`).test(r.name),
  );
  assert.equal(found.length, 1, `one container named ${prefix}-<fingerprint>; have ${resources.map((r) => r.name)}`);
  return found[0];
}

const isSecret = (value: any) =>
  value && typeof value === "object" && value[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig;

describe("app containers", () => {
  let resources: Recorded[];
  let outputs: Record<string, any>;
  before(async () => ({ resources, outputs } = await render()));

  it("runs one container per role and host, named the Kamal way", () => {
    const containers = byType(resources, "docker:index/container:Container").filter(
      (c) => c.inputs.name !== "kamal-proxy",
    );
    const names = containers.map((c) => c.inputs.name).sort();
    assert.equal(names.length, 2);
    assert.match(names[0], /^shop-job-production-v42-[0-9a-f]{8}$/);
    assert.match(names[1], /^shop-web-production-v42-[0-9a-f]{8}$/);
    assert.deepEqual(outputs.roles, {
      web: { hosts: ["web-1"], container: names[1], proxied: true },
      job: { hosts: ["job-1"], container: names[0], proxied: false },
    });
    // The logical name carries the same fingerprint as the docker name.
    for (const c of containers) assert.equal(c.name.slice(-8), c.inputs.name.slice(-8));
  });

  it("passes env, Kamal's runtime variables, labels, volumes and restart policy", () => {
    const web = appContainer(resources, "shop-web-web-1-v42");
    assert.equal(web.inputs.restart, "unless-stopped");
    assert.deepEqual(web.inputs.networksAdvanced, [{ name: "kamal", aliases: [web.inputs.name] }]);
    for (const env of [
      "RAILS_LOG_TO_STDOUT=1",
      `KAMAL_CONTAINER_NAME=${web.inputs.name}`,
      "KAMAL_VERSION=v42",
      "KAMAL_HOST=web-1",
      "KAMAL_DESTINATION=production",
    ]) {
      assert.ok(web.inputs.envs.includes(env), `missing ${env}`);
    }
    assert.ok(web.inputs.envs.includes("RAILS_MASTER_KEY=sentinel-master-key-1"));
    const labels = Object.fromEntries(web.inputs.labels.map((l: any) => [l.label, l.value]));
    const ready = resources.find((r) => r.name === "web-1-ready")!;
    assert.ok(web.dependencies.includes(ready.urn), "the container carries its host's readiness gate");
    assert.deepEqual(labels, {
      service: "shop",
      role: "web",
      destination: "production",
      "berth.version": "v42",
      "berth.host-generation": labels["berth.host-generation"],
      team: "checkout",
    });
    assert.match(labels["berth.host-generation"], /^\d+$/);
    assert.deepEqual(web.inputs.volumes, [
      { volumeName: "storage", containerPath: "/rails/storage", readOnly: false },
      { hostPath: "/srv/uploads", containerPath: "/rails/public/uploads", readOnly: true },
      {
        hostPath: "/root/.berth/apps/shop-production/assets/volumes/web-v42",
        containerPath: "/rails/public/assets",
        readOnly: false,
      },
    ]);
  });

  it("keeps secret env values wrapped as Pulumi secrets", () => {
    const web = appContainer(resources, "shop-web-web-1-v42");
    const secretEntries = web.raw.envs.filter(isSecret);
    assert.equal(secretEntries.length, 1);
    assert.equal(secretEntries[0].value, "RAILS_MASTER_KEY=sentinel-master-key-1");
    const plain = web.raw.envs.filter((e: any) => typeof e === "string");
    assert.ok(
      plain.every((e: string) => !e.includes("sentinel")),
      "no secret in a plain env entry",
    );
  });

  it("maps run options and logging onto the container", () => {
    const web = appContainer(resources, "shop-web-web-1-v42");
    assert.equal(web.inputs.memory, 2048);
    assert.equal(web.inputs.cpus, "1.5");
    assert.deepEqual(web.inputs.ulimits, [{ name: "nofile", soft: 1024, hard: 2048 }]);
    assert.deepEqual(web.inputs.hosts, [{ host: "db", ip: "10.0.1.10" }]);
    const job = appContainer(resources, "shop-job-job-1-v42");
    assert.deepEqual(job.inputs.command, ["bin/jobs", "--queue", "mail and more"]);
    assert.equal(job.inputs.logDriver, "json-file");
    assert.deepEqual(job.inputs.logOpts, { "max-size": "50m" });
  });

  it("rotates container logs at 10 MB unless the role configures its own logging (Kamal's default)", async () => {
    const web = appContainer(resources, "shop-web-web-1-v42");
    assert.deepEqual(web.inputs.logOpts, { "max-size": "10m" });
    assert.equal(web.inputs.logDriver, undefined, "the daemon's driver, as Kamal leaves it");
    const { resources: r } = await render((c) => (c.servers.web.logging = { driver: "journald" }));
    const own = appContainer(r, "shop-web-web-1-v42");
    assert.equal(own.inputs.logDriver, "journald");
    assert.equal(own.inputs.logOpts, undefined, "a configured driver replaces the default options");
  });

  it("pulls the version's image on each host, keeps it for rollbacks, with registry credentials as a secret", () => {
    const images = byType(resources, "docker:index/remoteImage:RemoteImage").filter((i) =>
      i.inputs.name.startsWith("ghcr.io/acme/shop"),
    );
    assert.deepEqual(
      images.map((i) => i.inputs.name),
      ["ghcr.io/acme/shop:v42", "ghcr.io/acme/shop:v42"],
    );
    assert.ok(images.every((i) => i.inputs.keepLocally === true));
    // Provider inputs travel JSON-encoded; the whole registryAuth value is a secret.
    const provider = named(resources, "web-1-docker");
    assert.ok(isSecret(provider.raw.registryAuth), "registry credentials are secret");
    assert.deepEqual(JSON.parse(provider.raw.registryAuth.value), [
      { address: "ghcr.io", username: "acme", password: "sentinel-registry-2" },
    ]);
  });

  it("waits for a role without proxy to keep running", () => {
    const ready = named(resources, "shop-job-job-1-v42-ready");
    assert.match(ready.inputs.create, /docker inspect/);
    assert.ok(ready.dependencies.includes(appContainer(resources, "shop-job-job-1-v42").urn));
  });

  it("prunes images only after the host's switch, recording the deployed image to keep it", () => {
    const prune = named(resources, "shop-web-1-prune");
    assert.ok(
      transitiveDependencies(resources, prune).has(named(resources, "shop-web-web-1-route").urn),
      "the prune waits for the switch",
    );
    assert.ok(
      transitiveDependencies(resources, named(resources, "shop-job-1-prune")).has(
        named(resources, "shop-job-job-1-v42-ready").urn,
      ),
    );
    assert.match(prune.inputs.create, /reference=ghcr\.io\/acme\/shop/);
    assert.match(prune.inputs.create, /^ref=ghcr\.io\/acme\/shop:v42$/m, "the deployed image is recorded");
    assert.match(prune.inputs.create, /tail -n 5 /, "keeps the last 5 deploys (retainContainers default)");
    assert.match(prune.inputs.create, /^list=\/root\/\.berth\/apps\/shop-production\/deployed-images$/m);
  });

  it("copies assets beside the container start, and switches only once both are done", () => {
    const assets = named(resources, "shop-web-web-1-v42-assets");
    const container = appContainer(resources, "shop-web-web-1-v42");
    const sw = named(resources, "shop-web-web-1-route");
    assert.ok(assets.dependencies.includes(named(resources, "shop-web-1-v42-image").urn));
    assert.ok(!container.dependencies.includes(assets.urn), "the container does not wait for the copy");
    assert.ok(sw.dependencies.includes(assets.urn) && sw.dependencies.includes(container.urn));
    assert.match(assets.inputs.create, /docker cp "\$cid:\/rails\/public\/assets\/\." "\$extracted\.tmp"/);
  });
});

describe("kamal-proxy", () => {
  let resources: Recorded[];
  before(async () => ({ resources } = await render()));

  it("runs a pinned kamal-proxy on web hosts only, with ports 80/443 and its state volume", () => {
    const proxies = byType(resources, "docker:index/container:Container").filter(
      (c) => c.inputs.name === "kamal-proxy",
    );
    assert.equal(proxies.length, 1);
    const proxy = proxies[0];
    assert.equal(proxy.name, "web-1-proxy-container");
    assert.deepEqual(
      proxy.inputs.ports.map((p: any) => [p.internal, p.external]),
      [
        [80, 80],
        [443, 443],
      ],
    );
    assert.deepEqual(proxy.inputs.volumes, [
      { volumeName: "kamal-proxy-config", containerPath: "/home/kamal-proxy/.config/kamal-proxy" },
    ]);
    assert.equal(proxy.deleteBeforeReplace, true);
    assert.equal(named(resources, "web-1-proxy-image").inputs.name, "basecamp/kamal-proxy:v0.9.2");
  });

  it("switches traffic with Let's Encrypt on a single web host and the configured health check", () => {
    const sw = named(resources, "shop-web-web-1-route");
    const script: string = sw.inputs.create;
    assert.match(
      script,
      /docker exec kamal-proxy kamal-proxy deploy shop-web-production --target=shop-web-production-v42-[0-9a-f]{8}:80 --host=shop\.example\.com --tls --tls-redirect=true --deploy-timeout=30s --drain-timeout=30s --health-check-path=\/up --health-check-interval=1s --health-check-timeout=5s --target-timeout=30s --buffer-requests=true --buffer-responses=true/,
    );
    assert.match(
      script,
      /docker logs --tail 50 shop-web-production-v42-[0-9a-f]{8}/,
      "a failed health check reports the container's logs",
    );
    assert.ok(sw.dependencies.includes(appContainer(resources, "shop-web-web-1-v42").urn));
    assert.ok(sw.dependencies.includes(named(resources, "web-1-proxy-container").urn));
  });

  it("switches and removes a route only through the unversioned route step, which is never replaced", () => {
    const route = named(resources, "shop-web-web-1-route");
    assert.equal(route.inputs.delete, "docker exec kamal-proxy kamal-proxy remove shop-web-production || true\n");
    // A replacement would run the old step's delete, removing the route it just switched.
    // Only a change of `triggers` replaces a command (the SDK's replaceOnChanges); the step has none.
    assert.deepEqual(route.replaceOnChanges, ["triggers[*]"]);
    assert.equal(route.inputs.triggers, undefined);
    assert.equal(route.deleteBeforeReplace, false);
    assert.ok(!resources.some((r) => r.name.endsWith("-switch")), "no versioned switch steps");
  });

  it("applies per-role overrides and every proxy option", async () => {
    const { resources: r } = await render((c) => {
      c.proxy = {
        appPort: 3000,
        healthcheck: { path: "/health", interval: 3, timeout: 10 },
        responseTimeout: 60,
        buffering: { requests: false, maxRequestBody: 1000 },
        forwardHeaders: true,
        deployTimeout: 90,
        drainTimeout: 20,
        sslRedirect: false,
      };
      c.servers.job.proxy = { hosts: ["jobs.example.com"], ssl: false, appPort: 9000, pathPrefix: "/shop" };
    });
    const web: string = named(r, "shop-web-web-1-route").inputs.create;
    assert.doesNotMatch(web, /--path-prefix/);
    for (const flag of [
      "--tls-redirect=false",
      "--deploy-timeout=90s",
      "--drain-timeout=20s",
      "--health-check-path=/health",
      "--health-check-interval=3s",
      "--health-check-timeout=10s",
      "--target-timeout=60s",
      "--buffer-requests=false",
      "--max-request-body=1000",
      "--forward-headers=true",
    ]) {
      assert.ok(web.includes(flag), `web switch lacks ${flag}`);
    }
    assert.match(web, /--target=shop-web-production-v42-[0-9a-f]{8}:3000/);
    const job: string = named(r, "shop-job-job-1-route").inputs.create;
    assert.match(
      job,
      /--target=shop-job-production-v42-[0-9a-f]{8}:9000 --host=jobs\.example\.com --path-prefix=\/shop --deploy-timeout=90s/,
    );
    assert.doesNotMatch(job, /--tls/);
    assert.equal(
      appContainer(r, "shop-web-web-1-v42").inputs.destroyGraceSeconds,
      20,
      "old containers get the drain timeout",
    );
  });

  it("attaches to another stack's kamal-proxy when it does not manage one", async () => {
    const { resources: r } = await render((c) => (c.proxy = { manage: false }));
    assert.equal(
      byType(r, "docker:index/container:Container").filter((c) => c.inputs.name === "kamal-proxy").length,
      0,
    );
    assert.match(
      named(r, "shop-web-web-1-route").inputs.create,
      /docker exec kamal-proxy kamal-proxy deploy shop-web-production/,
    );
  });

  it("puts the app behind the maintenance page and takes it back", async () => {
    assert.match(
      named(resources, "shop-web-web-1-maintenance").inputs.create,
      /kamal-proxy resume shop-web-production/,
    );
    const { resources: r } = await render(
      (c) => (c.maintenance = { enabled: true, message: "Back at 10:00, we're upgrading" }),
    );
    assert.equal(
      named(r, "shop-web-web-1-maintenance").inputs.create,
      "docker exec kamal-proxy kamal-proxy stop shop-web-production --drain-timeout=30s '--message=Back at 10:00, we'\\''re upgrading'\n",
    );
  });
});

describe("hooks and rolling boots", () => {
  it("runs Kamal's hooks locally around the deploy, with Kamal's variables", async () => {
    const { resources } = await render();
    const local = byType(resources, "command:local:Command");
    const pre = named(resources, "shop-pre-deploy");
    assert.match(pre.inputs.create, /hook=\.kamal\/hooks\/pre-deploy/);
    assert.equal(pre.inputs.environment.KAMAL_VERSION, "v42");
    assert.equal(pre.inputs.environment.KAMAL_DESTINATION, "production");
    assert.equal(pre.inputs.environment.BERTH_STACK, "production");
    assert.equal(pre.inputs.environment.KAMAL_SERVICE_VERSION, "shop@v42");
    assert.ok(local.some((c) => c.name === "shop-post-deploy"));
    // Nothing on a host changes before pre-deploy succeeded.
    for (const image of byType(resources, "docker:index/remoteImage:RemoteImage").filter((i) =>
      i.name.startsWith("shop-"),
    )) {
      assert.ok(transitiveDependencies(resources, image).has(pre.urn), `${image.name} waits for pre-deploy`);
    }
    const post = named(resources, "shop-post-deploy");
    const deps = transitiveDependencies(resources, post);
    for (const step of ["shop-web-web-1-route", "shop-job-job-1-v42-ready"])
      assert.ok(deps.has(named(resources, step).urn), `post-deploy after ${step}`);
  });

  const twoWeb = (c: Record<string, any>) => {
    c.hosts["web-2"] = { serverType: "cx23", location: "fsn1" };
    c.servers.web.hosts = ["web-1", "web-2"];
  };

  it("with boot.limit 1, the second host's switch waits for the first host's", async () => {
    const { resources } = await render((c) => {
      twoWeb(c);
      c.boot = { limit: 1, wait: 10 };
    });
    const second = named(resources, "shop-web-web-2-route");
    const first = named(resources, "shop-web-web-1-route");
    const deps = transitiveDependencies(resources, second);
    assert.ok(deps.has(first.urn), "web-2 waits for web-1");
    assert.ok(deps.has(named(resources, "shop-boot-wait-1").urn), "and for boot.wait");
    assert.equal(named(resources, "shop-boot-wait-1").inputs.create, "sleep 10");
    assert.ok(!transitiveDependencies(resources, first).has(second.urn));
  });

  it("without a limit, hosts proceed in parallel", async () => {
    const { resources } = await render(twoWeb);
    const first = named(resources, "shop-web-web-1-route");
    const second = named(resources, "shop-web-web-2-route");
    assert.ok(!transitiveDependencies(resources, second).has(first.urn));
    assert.ok(!transitiveDependencies(resources, first).has(second.urn));
  });

  it("turns ssl off behind the load balancer and forwards its headers", async () => {
    const { resources } = await render(twoWeb);
    const sw: string = named(resources, "shop-web-web-2-route").inputs.create;
    assert.doesNotMatch(sw, /--tls/);
    assert.match(sw, /--forward-headers=true/);
  });
});

describe("builder", () => {
  it("builds and pushes the image, then deploys the pushed digest", async () => {
    const { resources } = await render(
      (c) => (c.builder = { context: "app", arch: "arm64", args: { RUBY_VERSION: "3.3" } }),
    );
    const image = byType(resources, "docker:index/image:Image")[0];
    assert.equal(image.inputs.imageName, "ghcr.io/acme/shop:v42");
    assert.equal(image.inputs.build.platform, "linux/arm64");
    assert.equal(image.inputs.build.dockerfile, "app/Dockerfile");
    assert.deepEqual(image.inputs.build.args, { RUBY_VERSION: "3.3" });
    assert.ok(isSecret(image.raw.registry) || isSecret(image.raw.registry.password));
    const pull = named(resources, "shop-web-1-v42-image");
    assert.match(pull.inputs.name, /^ghcr\.io\/acme\/shop@sha256:[0-9a-f]{64}$/);
    assert.ok(transitiveDependencies(resources, pull).has(named(resources, "shop-build-pre-build").urn));
  });

  it("copies assets from the image the host pulled (the digest), never pulling a tag itself", async () => {
    const { resources } = await render((c) => (c.builder = { context: "app" }));
    const pulled = named(resources, "shop-web-1-v42-image");
    const assets: string = named(resources, "shop-web-web-1-v42-assets").inputs.create;
    // The host pulled only `repo@sha256:...` (through the docker provider and its registry
    // credentials); `repo:v42` is not on the host, and the host has no registry login.
    assert.ok(assets.includes(`docker container create --pull never ${pulled.inputs.imageId ?? ""}`), assets);
    assert.match(assets, /docker container create --pull never sha256:[0-9a-f]{64}\)/);
    assert.doesNotMatch(assets, /ghcr\.io\/acme\/shop/);
  });
});

/** Resources of the next render that `pulumi up` would run from `state`: new, or with other inputs. */
function stepsFrom(state: Map<string, Recorded>, program: Recorded[]): Recorded[] {
  return program.filter((r) => {
    const before = state.get(r.urn);
    return !before || JSON.stringify(before.raw) !== JSON.stringify(r.raw);
  });
}

describe("routes across failed updates", () => {
  const twoWeb = (c: Record<string, any>) => {
    c.hosts["web-2"] = { serverType: "cx23", location: "fsn1" };
    c.servers.web.hosts = ["web-1", "web-2"];
    c.boot = { limit: 1 };
  };
  const v43 = (c: Record<string, any>) => {
    twoWeb(c);
    c.version = "v43";
  };
  // Pulumi records a resource's inputs when its step succeeds and keeps the previous ones when it
  // fails (pulumi-go-provider infer: a failed Update returns no state). After an update that failed
  // partway, state holds the old program's resources plus the new program's that succeeded.
  async function afterFailure(succeeded: (name: string) => boolean) {
    const before = (await render(twoWeb)).resources;
    const attempted = (await render(v43)).resources;
    const state = new Map(before.map((r) => [r.urn, r]));
    for (const r of attempted) if (succeeded(r.name)) state.set(r.urn, r);
    // `berth rollback` deploys the old configuration again.
    const rollback = (await render(twoWeb)).resources;
    return { before, attempted, state, rollback, steps: stepsFrom(state, rollback) };
  }
  const routesTo = (steps: Recorded[], container: Recorded) =>
    steps.filter(
      (r) =>
        r.type === "command:remote:Command" && String(r.inputs.create).includes(`--target=${container.inputs.name}:80`),
    );

  it("a rollback after a failure past web-1's switch routes web-1 back to the old container", async () => {
    // web-1 switched to v43; then web-2's health check (or a post-deploy hook) failed.
    const { attempted, state, rollback, steps } = await afterFailure(
      (n) => n.startsWith("shop-web-1-") || n.startsWith("shop-web-web-1-") || n === "shop-pre-deploy",
    );
    const old = appContainer(rollback, "shop-web-web-1-v42");
    const rerouted = routesTo(steps, old);
    assert.deepEqual(
      rerouted.map((r) => r.name),
      ["shop-web-web-1-route"],
      "web-1's route is switched back to v42",
    );
    assert.ok(rerouted[0].dependencies.includes(old.urn), "after the container it routes to");
    // The container it routes to stays; the v43 container the proxy served is deleted at the end.
    const deleted = [...state.values()].filter((r) => !rollback.some((p) => p.urn === r.urn));
    assert.ok(!deleted.some((r) => r.urn === old.urn));
    assert.ok(deleted.some((r) => r.urn === appContainer(attempted, "shop-web-web-1-v43").urn));
    // web-2 never switched: its route still names v42 in state, so nothing runs there.
    assert.ok(!steps.some((r) => r.name === "shop-web-web-2-route"));
  });

  it("retrying the failed update switches only the host that did not switch", async () => {
    const { attempted, state } = await afterFailure(
      (n) => n.startsWith("shop-web-1-") || n.startsWith("shop-web-web-1-"),
    );
    const steps = stepsFrom(state, attempted);
    const routes = steps.filter((r) => r.name.endsWith("-route")).map((r) => r.name);
    assert.deepEqual(routes, ["shop-web-web-2-route"]);
    assert.equal(routesTo(steps, appContainer(attempted, "shop-web-web-2-v43")).length, 1);
  });
});

describe("changes to what a container runs", () => {
  const changes: [string, Change][] = [
    ["an env value", (c) => (c.env.clear.RAILS_LOG_TO_STDOUT = 0)],
    ["a rotated secret", (c) => (c.secrets.RAILS_MASTER_KEY = "sentinel-master-key-rotated")],
    ["a run option", (c) => (c.servers.web.options.memory = "3g")],
    ["a label", (c) => (c.servers.web.labels.team = "payments")],
    ["a volume", (c) => c.volumes.push("cache:/rails/tmp/cache")],
    ["the logging", (c) => (c.servers.web.logging = { options: { "max-size": "50m" } })],
    ["the command", (c) => (c.servers.web.cmd = "bin/thrust bin/rails server")],
  ];
  let base: Recorded[];
  before(async () => ({ resources: base } = await render()));

  for (const [what, change] of changes) {
    it(`${what}: a new container beside the old one, the health-checked switch, then the old one deleted`, async () => {
      const { resources: after } = await render(change);
      const diff = diffRenders(base, after);
      // pulumi-docker replaces a container delete-first: a changed container would stop first.
      const containers = (rs: Recorded[]) => rs.filter((r) => r.type === "docker:index/container:Container");
      assert.deepEqual(
        containers(diff.changed).map((r) => r.name),
        [],
        "no container is changed in place",
      );
      const oldWeb = appContainer(base, "shop-web-web-1-v42");
      const newWeb = appContainer(after, "shop-web-web-1-v42");
      assert.notEqual(newWeb.inputs.name, oldWeb.inputs.name);
      assert.ok(diff.created.includes(newWeb) && diff.deleted.some((r) => r.urn === oldWeb.urn));
      const route = diff.changed.find((r) => r.name === "shop-web-web-1-route");
      assert.ok(route?.inputs.create.includes(`--target=${newWeb.inputs.name}:80`), "the route switches");
      for (const hook of ["shop-pre-deploy", "shop-pre-app-boot", "shop-post-app-boot", "shop-post-deploy"])
        assert.ok(
          diff.changed.some((r) => r.name === hook),
          `${hook} runs again`,
        );
      assert.ok(diff.changed.some((r) => r.name === "shop-web-1-prune"));
    });
  }

  it("an unchanged configuration keeps every name", async () => {
    const { resources: again } = await render();
    const diff = diffRenders(base, again);
    assert.deepEqual(
      [diff.created, diff.deleted, diff.changed].map((l) => l.length),
      [0, 0, 0],
    );
  });

  it("a fingerprint of a secret says nothing without the stack's key", async () => {
    const key2 = (c: Record<string, any>) => (c.secrets.BERTH_FINGERPRINT_KEY = "another-random-key-of-32-characters!");
    const { resources: other } = await render(key2);
    const a = appContainer(base, "shop-web-web-1-v42").inputs.name;
    const b = appContainer(other, "shop-web-web-1-v42").inputs.name;
    // Same values, another key: another name. Someone who reads names cannot test a guess of
    // RAILS_MASTER_KEY without BERTH_FINGERPRINT_KEY, which reaches no resource.
    assert.notEqual(a, b);
    for (const r of base) {
      assert.ok(
        !JSON.stringify(r.raw).includes(appConfig().secrets.BERTH_FINGERPRINT_KEY),
        `${r.name} carries the fingerprint key`,
      );
      assert.ok(!r.name.includes("sentinel"));
    }
  });
});

describe("configuration of the app", () => {
  const problems = (change: Change) => {
    const raw = appConfig(change);
    try {
      parseConfig(raw, "x");
    } catch (err: any) {
      // Only berth's own config error lists problems; anything else is a bug, not an answer.
      if (!Array.isArray(err?.problems)) throw err;
      return err.problems as string[];
    }
    return [];
  };
  it("requires a random fingerprint key once app containers receive a secret", () => {
    const p = problems((c) => delete c.secrets.BERTH_FINGERPRINT_KEY);
    assert.ok(
      p.some((x) =>
        x.startsWith(
          'berth:secrets.BERTH_FINGERPRINT_KEY: secret "BERTH_FINGERPRINT_KEY" is not set; app containers receive secrets (RAILS_MASTER_KEY (role web), RAILS_MASTER_KEY (role job))',
        ),
      ),
      p.join("\n"),
    );
    assert.ok(
      p[0].includes(`openssl rand -hex 32 | pulumi config set --secret --path 'berth:secrets.BERTH_FINGERPRINT_KEY'`),
    );
    const short = problems((c) => (c.secrets.BERTH_FINGERPRINT_KEY = "hunter2"));
    assert.ok(
      short.some((x) => x.startsWith("berth:secrets.BERTH_FINGERPRINT_KEY: must be a random key of at least 32")),
    );
    const given = problems((c) => c.env.secret.push("BERTH_FINGERPRINT_KEY"));
    assert.ok(given.some((x) => x.startsWith("berth:env.secret[1]: BERTH_FINGERPRINT_KEY keys berth's container")));
    // Without secrets in the containers there is nothing to key.
    assert.deepEqual(
      problems((c) => {
        delete c.env.secret;
        delete c.secrets.BERTH_FINGERPRINT_KEY;
      }),
      [],
    );
  });

  it("rejects ssl on a role with several hosts", () => {
    const p = problems((c) => {
      c.hosts["web-2"] = { serverType: "cx23", location: "fsn1" };
      c.servers.web.hosts.push("web-2");
      c.proxy = { ssl: true };
    });
    assert.ok(
      p.some((x) =>
        x.startsWith(
          "berth:proxy.ssl: kamal-proxy can only obtain Let's Encrypt certificates for a role on a single host",
        ),
      ),
      p.join("\n"),
    );
  });
  it("rejects an env secret that is not set", () => {
    const p = problems((c) => (c.servers.job.env = { secret: ["SMTP_PASSWORD"] }));
    assert.ok(
      p.some((x) => x.startsWith(`berth:servers.job.env.secret[0]: secret "SMTP_PASSWORD" is not set`)),
      p.join("\n"),
    );
  });
  it("rejects an unsupported or malformed run option", () => {
    const p = problems((c) => (c.servers.web.options = { memroy: "1g", memory: "lots" }));
    assert.ok(
      p.some((x) => x.startsWith("berth:servers.web.options.memroy: unsupported docker run option")),
      p.join("\n"),
    );
    assert.ok(
      p.some((x) => x.startsWith("berth:servers.web.options.memory: must be a size such as 512m")),
      p.join("\n"),
    );
  });
  it("rejects a cmd that needs a shell", () => {
    const p = problems((c) => (c.servers.job.cmd = "bin/jobs | tee log"));
    assert.ok(
      p.some((x) => x.startsWith("berth:servers.job.cmd: runs without a shell")),
      p.join("\n"),
    );
  });
});
