// Unit tier for the app deploy: every option reaches the docker / command inputs it should.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { parseConfig } from "../config/load";
import { secretsFrom } from "../config/stack";
import { deploy, stackOutputs } from "../components/deployment";
import { byType, named, Recorded, run, transitiveDependencies } from "./harness";

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestKey test@example.com";
const SECRETS = { RAILS_MASTER_KEY: "sentinel-master-key-1", REGISTRY_TOKEN: "sentinel-registry-2" };

function baseConfig(): Record<string, any> {
  return {
    service: "shop",
    image: "ghcr.io/acme/shop",
    version: "v42",
    hosts: {
      "web-1": { serverType: "cx23", location: "fsn1" },
      "job-1": { serverType: "cx23", location: "fsn1" },
    },
    servers: {
      web: {
        hosts: ["web-1"],
        options: { memory: "2g", cpus: 1.5, ulimit: ["nofile=1024:2048"], "add-host": "db:10.0.1.10" },
        labels: { team: "checkout" },
      },
      job: {
        hosts: ["job-1"],
        cmd: 'bin/jobs --queue "mail and more"',
        logging: { driver: "json-file", options: { "max-size": "50m" } },
      },
    },
    env: { clear: { RAILS_LOG_TO_STDOUT: 1 }, secret: ["RAILS_MASTER_KEY"] },
    registry: { server: "ghcr.io", username: "acme", passwordSecret: "REGISTRY_TOKEN" },
    volumes: ["storage:/rails/storage", "/srv/uploads:/rails/public/uploads:ro"],
    assetPath: "/rails/public/assets",
    ssh: { publicKey: KEY },
    dns: { zone: "example.com", hosts: ["shop.example.com"] },
    secrets: SECRETS,
  };
}

async function render(change?: (c: Record<string, any>) => void) {
  const raw = baseConfig();
  change?.(raw);
  const cfg = parseConfig(raw, "production");
  return run({
    stack: "production",
    program: () => {
      const secrets = secretsFrom(pulumi.secret<Record<string, string>>(raw.secrets ?? {}));
      return stackOutputs(cfg, deploy(cfg, secrets));
    },
  });
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
    assert.deepEqual(containers.map((c) => c.inputs.name).sort(), [
      "shop-job-production-v42",
      "shop-web-production-v42",
    ]);
    assert.deepEqual(outputs.roles, {
      web: { hosts: ["web-1"], container: "shop-web-production-v42", proxied: true },
      job: { hosts: ["job-1"], container: "shop-job-production-v42", proxied: false },
    });
  });

  it("passes env, Kamal's runtime variables, labels, volumes and restart policy", () => {
    const web = named(resources, "shop-web-web-1-v42");
    assert.equal(web.inputs.restart, "unless-stopped");
    assert.deepEqual(web.inputs.networksAdvanced, [{ name: "kamal", aliases: ["shop-web-production-v42"] }]);
    for (const env of [
      "RAILS_LOG_TO_STDOUT=1",
      "KAMAL_CONTAINER_NAME=shop-web-production-v42",
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
    const web = named(resources, "shop-web-web-1-v42");
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
    const web = named(resources, "shop-web-web-1-v42");
    assert.equal(web.inputs.memory, 2048);
    assert.equal(web.inputs.cpus, "1.5");
    assert.deepEqual(web.inputs.ulimits, [{ name: "nofile", soft: 1024, hard: 2048 }]);
    assert.deepEqual(web.inputs.hosts, [{ host: "db", ip: "10.0.1.10" }]);
    const job = named(resources, "shop-job-job-1-v42");
    assert.deepEqual(job.inputs.command, ["bin/jobs", "--queue", "mail and more"]);
    assert.equal(job.inputs.logDriver, "json-file");
    assert.deepEqual(job.inputs.logOpts, { "max-size": "50m" });
  });

  it("rotates container logs at 10 MB unless the role configures its own logging (Kamal's default)", async () => {
    const web = named(resources, "shop-web-web-1-v42");
    assert.deepEqual(web.inputs.logOpts, { "max-size": "10m" });
    assert.equal(web.inputs.logDriver, undefined, "the daemon's driver, as Kamal leaves it");
    const { resources: r } = await render((c) => (c.servers.web.logging = { driver: "journald" }));
    const own = named(r, "shop-web-web-1-v42");
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

  it("waits for a role without proxy to keep running, and prunes old images once the new one is there", () => {
    const ready = named(resources, "shop-job-job-1-v42-ready");
    assert.match(ready.inputs.create, /docker inspect/);
    assert.ok(ready.dependencies.includes(named(resources, "shop-job-job-1-v42").urn));
    const prune = named(resources, "shop-web-1-prune");
    assert.match(prune.inputs.create, /reference=ghcr\.io\/acme\/shop/);
    assert.match(prune.inputs.create, /tail -n \+6/, "keeps the newest 5 (retainContainers default)");
    assert.ok(prune.dependencies.includes(named(resources, "shop-web-1-v42-image").urn));
    assert.ok(!transitiveDependencies(resources, prune).has(named(resources, "shop-web-web-1-v42-switch").urn));
  });

  it("copies assets beside the container start, and switches only once both are done", () => {
    const assets = named(resources, "shop-web-web-1-v42-assets");
    const container = named(resources, "shop-web-web-1-v42");
    const sw = named(resources, "shop-web-web-1-v42-switch");
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
    const sw = named(resources, "shop-web-web-1-v42-switch");
    const script: string = sw.inputs.create;
    assert.match(
      script,
      /docker exec kamal-proxy kamal-proxy deploy shop-web-production --target=shop-web-production-v42:80 --host=shop\.example\.com --tls --tls-redirect=true --deploy-timeout=30s --drain-timeout=30s --health-check-path=\/up --health-check-interval=1s --health-check-timeout=5s --target-timeout=30s --buffer-requests=true --buffer-responses=true/,
    );
    assert.match(
      script,
      /docker logs --tail 50 shop-web-production-v42/,
      "a failed health check reports the container's logs",
    );
    assert.ok(sw.dependencies.includes(named(resources, "shop-web-web-1-v42").urn));
    assert.ok(sw.dependencies.includes(named(resources, "web-1-proxy-container").urn));
  });

  it("removes a route only through the unversioned route resource", () => {
    const route = named(resources, "shop-web-web-1-route");
    assert.equal(route.inputs.delete, "docker exec kamal-proxy kamal-proxy remove shop-web-production || true\n");
    assert.equal(named(resources, "shop-web-web-1-v42-switch").inputs.delete, undefined);
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
      // A path prefix needs ssl off: kamal-proxy takes TLS settings only from the root path service.
      c.servers.job.proxy = { hosts: ["jobs.example.com"], ssl: false, appPort: 9000, pathPrefix: "/shop" };
    });
    const web: string = named(r, "shop-web-web-1-v42-switch").inputs.create;
    assert.doesNotMatch(web, /--path-prefix/);
    for (const flag of [
      "--target=shop-web-production-v42:3000",
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
    const job: string = named(r, "shop-job-job-1-v42-switch").inputs.create;
    assert.match(
      job,
      /--target=shop-job-production-v42:9000 --host=jobs\.example\.com --path-prefix=\/shop --deploy-timeout=90s/,
    );
    assert.doesNotMatch(job, /--tls/);
    assert.equal(named(r, "shop-web-web-1-v42").inputs.destroyGraceSeconds, 20, "old containers get the drain timeout");
  });

  it("attaches to another stack's kamal-proxy when it does not manage one", async () => {
    const { resources: r } = await render((c) => (c.proxy = { manage: false }));
    assert.equal(
      byType(r, "docker:index/container:Container").filter((c) => c.inputs.name === "kamal-proxy").length,
      0,
    );
    assert.match(
      named(r, "shop-web-web-1-v42-switch").inputs.create,
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
    for (const step of ["shop-web-web-1-v42-switch", "shop-job-job-1-v42-ready"])
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
    const second = named(resources, "shop-web-web-2-v42-switch");
    const first = named(resources, "shop-web-web-1-v42-switch");
    const deps = transitiveDependencies(resources, second);
    assert.ok(deps.has(first.urn), "web-2 waits for web-1");
    assert.ok(deps.has(named(resources, "shop-boot-wait-1").urn), "and for boot.wait");
    assert.equal(named(resources, "shop-boot-wait-1").inputs.create, "sleep 10");
    assert.ok(!transitiveDependencies(resources, first).has(second.urn));
  });

  it("without a limit, hosts proceed in parallel", async () => {
    const { resources } = await render(twoWeb);
    const first = named(resources, "shop-web-web-1-v42-switch");
    const second = named(resources, "shop-web-web-2-v42-switch");
    assert.ok(!transitiveDependencies(resources, second).has(first.urn));
    assert.ok(!transitiveDependencies(resources, first).has(second.urn));
  });

  it("turns ssl off behind the load balancer and forwards its headers", async () => {
    const { resources } = await render(twoWeb);
    const sw: string = named(resources, "shop-web-web-2-v42-switch").inputs.create;
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
});

describe("configuration of the app", () => {
  const problems = (change: (c: Record<string, any>) => void) => {
    const raw = baseConfig();
    change(raw);
    try {
      parseConfig(raw, "x");
    } catch (err: any) {
      return err.problems as string[];
    }
    return [];
  };
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
