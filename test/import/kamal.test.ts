// Longer than 400 lines: one case per Kamal key berth maps, loads or refuses, over one shared set of import helpers; a table of cases reads best whole.
// `berth import`: Kamal configurations written for these tests become stack files that validate
// and render under mocks through the real program (index.ts), exactly as written to disk.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { runCli } from "../../cli/main";
import { fromEngineConfig, parseConfig, readStackFile } from "../../config/load";
import { deepMerge, KamalConfigError, loadKamal, renderErb } from "../../import/kamal";
import { ImportResult, mapKamal } from "../../import/map";
import { validateImport } from "../../import/write";
import { byType, FIXTURES as ALL_FIXTURES, Recorded, ROOT, testSecret } from "../support/harness";
import { cli, render } from "../support/importing";
import { TEST_PUBLIC_KEY } from "../support/configs";

const FIXTURES = path.join(ALL_FIXTURES, "kamal");
const scratch: string[] = [];
after(() => scratch.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A copy of a fixture project in a fresh directory, so the import writes beside it. */
function copyFixture(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `berth-import-${name}-`));
  scratch.push(dir);
  fs.cpSync(path.join(FIXTURES, name), dir, { recursive: true, filter: (src) => !src.includes("expected") });
  return dir;
}

/** Container names, app containers without the fingerprint their names end in. */
const containers = (resources: Recorded[]) =>
  byType(resources, "docker:index/container:Container")
    .map((c) => String(c.inputs.name).replace(/-[0-9a-f]{8}$/, ""))
    .sort();

/** Pure import of a fixture, paths relative to the fixture itself. */
function importFixture(name: string, destination?: string, env: Record<string, string> = {}): ImportResult {
  const source = loadKamal({
    file: path.join(FIXTURES, name, "config", "deploy.yml"),
    destination,
    env,
    readFile: (f) => (fs.existsSync(f) ? fs.readFileSync(f, "utf8") : undefined),
  });
  return mapKamal(source.config, { placeholders: source.placeholders, version: "v1", publicKey: TEST_PUBLIC_KEY });
}

const CORPUS: {
  name: string;
  stack: string;
  args: string[];
  snapshot?: boolean;
  containers: string[];
}[] = [
  {
    name: "single",
    stack: "production",
    args: [],
    snapshot: true,
    containers: ["kamal-proxy", "myapp-web-production-filled"],
  },
  {
    name: "web-job",
    stack: "production",
    args: [],
    snapshot: true,
    containers: ["kamal-proxy", "kamal-proxy", "shop-job-production-2026.11.1", "shop-web-production-2026.11.1"],
  },
  {
    name: "accessories",
    stack: "production",
    args: ["--version", "v7"],
    snapshot: true,
    containers: [
      "kamal-proxy",
      "maps-db",
      "maps-redis",
      "maps-search-engine",
      "maps-web-production-v7",
      "maps-workers-production-v7",
    ],
  },
  {
    name: "destinations",
    stack: "staging",
    args: ["-d", "staging", "--version", "v3"],
    containers: ["blog-web-staging-v3", "kamal-proxy"],
  },
  {
    name: "local-registry",
    stack: "production",
    args: ["--provision", "cx23@fsn1", "--version", "v1"],
    containers: ["kamal-proxy", "tiny-web-production-v1"],
  },
  {
    name: "everything",
    stack: "production",
    args: ["--version", "v9"],
    snapshot: true,
    containers: [
      "kamal-proxy",
      "kamal-proxy",
      "kitchen-mysql",
      "kitchen-mysql",
      "kitchen-web-production-v9",
      "kitchen-workers-production-v9",
    ],
  },
];

describe("importing the Kamal corpus", () => {
  for (const fx of CORPUS) {
    it(`${fx.name}: writes a stack file that validates and renders under mocks`, async (t) => {
      const dir = copyFixture(fx.name);
      const out = cli(dir, ["--stack", fx.stack, ...fx.args]);
      assert.match(out, new RegExp(`^Wrote Pulumi\\.${fx.stack}\\.yaml`));
      const written = fs.readFileSync(path.join(dir, `Pulumi.${fx.stack}.yaml`), "utf8");
      if (fx.snapshot) {
        const expected = path.join(FIXTURES, fx.name, "expected", `Pulumi.${fx.stack}.yaml`);
        if (process.env.UPDATE_SNAPSHOTS) {
          // Rewriting the snapshot proves nothing about this run: it is reported as skipped, and
          // the rewritten file is for review in the diff before the next run compares against it.
          fs.writeFileSync(expected, written);
          t.skip(`snapshot ${expected} rewritten; review it and run again without UPDATE_SNAPSHOTS`);
          return;
        }
        assert.equal(written, fs.readFileSync(expected, "utf8"), `snapshot ${expected} differs`);
      }
      const { resources } = await render(dir, fx.stack);
      const running = containers(resources);
      // One container per role and host; only the names' multiset is compared.
      assert.deepEqual([...new Set(running)].sort(), [...new Set(fx.containers)].sort());
      assert.equal(
        running.filter((n) => n === "kamal-proxy").length,
        fx.containers.filter((n) => n === "kamal-proxy").length,
      );
      // Importing again changes nothing and needs no --force.
      assert.match(cli(dir, ["--stack", fx.stack, ...fx.args]), /^Unchanged/);
      assert.equal(fs.readFileSync(path.join(dir, `Pulumi.${fx.stack}.yaml`), "utf8"), written);
    });
  }
});

describe("mapping Kamal keys", () => {
  it("reports every key of the full configuration without an equivalent, with a reason", () => {
    const result = importFixture("everything");
    assert.deepEqual(
      result.unmapped.map((u) => u.key),
      [
        "hooks_output",
        "secrets_path",
        "error_pages_path",
        "require_destination",
        "allow_empty_roles",
        "minimum_version",
        "stop_timeout",
        "run_directory",
        "sshkit",
        "output",
        "servers/workers/options/log-opt",
        "servers/workers/stop_timeout",
        "servers/workers/asset_path",
        "volumes/1 (z)",
        "proxy/ssl",
        "proxy/strip_path_prefix",
        "proxy/logging",
        "proxy/run/http_port",
        "proxy/run/https_port",
        "proxy/run/metrics_port",
        "proxy/run/debug",
        "proxy/run/log_max_size",
        "proxy/run/publish",
        "proxy/run/bind_ips",
        "proxy/run/options",
        "builder/remote",
        "builder/local",
        "builder/cache",
        "builder/secrets",
        "builder/ssh",
        "builder/driver",
        "builder/provenance",
        "builder/sbom",
        "ssh/proxy",
        "ssh/log_level",
        "ssh/keys_only",
        "ssh/keys",
        "ssh/config",
        "ssh/forward_agent",
        "boot/parallel_roles",
        "accessories/mysql/options/restart",
        "accessories/mysql/directories/1/mode",
        "accessories/mysql/directories/1/owner",
        "accessories/mysql/directories/1/options",
        "accessories/mysql/service",
        "accessories/mysql/registry",
        "accessories/mysql/network",
        "accessories/mysql/proxy",
        "aliases/console",
      ],
    );
    assert.ok(result.unmapped.every((u) => u.reason.length > 10));
  });

  it("maps every documented key that has an equivalent", () => {
    const { config } = importFixture("everything");
    const servers = config.servers as Record<string, any>;
    assert.equal(config.image, "registry.example.com/acme/kitchen");
    assert.deepEqual(servers.web.labels, { "my-label": "my-value" });
    assert.deepEqual(servers.workers.logging, { driver: "local", options: { "max-size": "100m" } });
    assert.deepEqual(servers.workers.options, { memory: "2g", cpus: 4 });
    assert.equal(servers.workers.proxy, false);
    assert.deepEqual(servers.web.proxy, { responseTimeout: 15 });
    assert.deepEqual(config.volumes, ["/srv/kitchen/uploads:/app/uploads:ro", "kitchen_cache:/app/tmp/cache"]);
    assert.deepEqual(config.proxy, {
      hosts: ["kitchen.example.com", "*.kitchen.example.com"],
      appPort: 3000,
      sslRedirect: false,
      forwardHeaders: true,
      responseTimeout: 10,
      pathPrefix: ["/api", "/oauth_callback"],
      healthcheck: { path: "/health", interval: 3, timeout: 3 },
      buffering: { requests: true, responses: true, maxRequestBody: 40000000, maxResponseBody: 0, memory: 2000000 },
      image: "basecamp/kamal-proxy:v0.9.2",
      deployTimeout: 10,
      drainTimeout: 10,
    });
    assert.deepEqual(config.boot, { limit: 2, wait: 10 });
    assert.deepEqual(config.hooks, { path: "bin/kamal-hooks" });
    assert.equal(config.retainContainers, 3);
    assert.equal(config.readinessDelay, 4);
    assert.deepEqual(config.ssh, { user: "app", port: 2222, publicKey: TEST_PUBLIC_KEY });
    const mysql = (config.accessories as Record<string, any>).mysql;
    // Placed by tag: the hosts carrying "experiments".
    assert.deepEqual(mysql.hosts, ["web-2", "workers-1"]);
    // Where Kamal keeps them: the SSH user's home, in the accessory's service directory.
    assert.deepEqual(mysql.directories, [
      "/home/app/mysql/mysql-logs:/var/log/mysql",
      "/home/app/mysql/mysql-data:/var/lib/mysql",
    ]);
  });

  it("lists each secret once, with the command that sets it and never a value", () => {
    const dir = copyFixture("single");
    fs.writeFileSync(
      path.join(dir, "config", "deploy.yml"),
      fs
        .readFileSync(path.join(dir, "config", "deploy.yml"), "utf8")
        .replace("password:\n    - KAMAL_REGISTRY_PASSWORD", "password: <%= ENV['REGISTRY_TOKEN'] %>"),
    );
    const out = cli(dir, ["--stack", "production"], { REGISTRY_TOKEN: "sentinel-token-4711", WEB_HOST: "192.0.2.9" });
    const written = fs.readFileSync(path.join(dir, "Pulumi.production.yaml"), "utf8");
    for (const text of [out, written]) {
      assert.ok(!text.includes("sentinel-token-4711"), "a secret value leaked");
      assert.ok(text.includes("pulumi config set --secret --path 'berth:secrets.KAMAL_REGISTRY_PASSWORD' <value>"));
      assert.ok(text.includes("pulumi config set --secret --path 'berth:secrets.RAILS_MASTER_KEY' <value>"));
      // The key of the container fingerprints is generated, never typed in.
      assert.ok(
        text.includes(`openssl rand -hex 32 | pulumi config set --secret --path 'berth:secrets.BERTH_FINGERPRINT_KEY'`),
      );
    }
    assert.match(written, /address: 192\.0\.2\.9\n/);
  });

  it("turns hosts into Hetzner servers with --provision, with DNS for their new addresses", () => {
    const dir = copyFixture("single");
    cli(dir, ["--stack", "production", "--provision", "cax21@hel1"], { WEB_HOST: "192.0.2.9" });
    const file = readStackFile(path.join(dir, "Pulumi.production.yaml"), testSecret);
    assert.deepEqual(JSON.parse(file.config["berth:hosts"]), { "web-1": { serverType: "cax21", location: "hel1" } });
    assert.deepEqual(JSON.parse(file.config["berth:dns"]), { zone: "example.com", hosts: ["app.example.com"] });
    assert.throws(() => cli(dir, ["--stack", "x", "--provision", "cx23@mars"]), /TYPE@LOCATION/);
    assert.throws(
      () => cli(dir, ["--stack", "x", "--provision", "cx22@fsn1"]),
      /cx22 was retired by Hetzner.*use cx23/,
    );
  });

  it("moves publicly published accessory ports to the private network, and says so", () => {
    const result = importFixture("accessories");
    const acc = result.config.accessories as Record<string, any>;
    const hosts = result.config.hosts as Record<string, any>;
    assert.equal(acc.db.port, "5432:5432");
    assert.equal(hosts["db-1"].privateAddress, "10.0.0.5");
    assert.equal(acc.redis.port, "127.0.0.1:6379:6379");
    // A public machine has no known private address: loopback, with the way to open it up.
    assert.equal(acc["search-engine"].port, "127.0.0.1:7700:7700");
    assert.ok(
      result.notes.some((n) => n.startsWith("accessories/db/port: 5432:5432 was published on every interface")),
    );
    assert.ok(result.notes.some((n) => n.includes("set berth:hosts.search-engine-1.privateAddress")));
    assert.deepEqual(acc.db.postgres, {
      database: "maps_production",
      user: "maps",
      passwordSecret: "POSTGRES_PASSWORD",
      databaseUrl: false,
    });
    assert.equal(acc.db.env, undefined);
    assert.deepEqual(
      result.secrets.map((s) => s.name),
      [
        "KAMAL_REGISTRY_PASSWORD",
        "RAILS_MASTER_KEY",
        "POSTGRES_PASSWORD",
        "SSH_PRIVATE_KEY",
        "MEILI_MASTER_KEY",
        "BERTH_FINGERPRINT_KEY",
      ],
    );
    validateImport(result, "production", path.join(FIXTURES, "accessories"));
  });

  it("keeps Kamal's primary role as berth:primaryRole and wraps shell commands", () => {
    const result = mapKamal(
      {
        service: "svc",
        image: "acme/svc",
        primary_role: "app",
        servers: {
          app: ["192.0.2.1"],
          job_runner: { hosts: ["192.0.2.2"], cmd: "bin/jobs | tee log" },
          "Mail.Out": { hosts: ["192.0.2.3"] },
        },
      },
      { version: "v1", publicKey: TEST_PUBLIC_KEY },
    );
    assert.deepEqual(Object.keys(result.config.servers as object), ["app", "job_runner", "mail-out"]);
    assert.equal(result.config.primaryRole, "app");
    assert.deepEqual(Object.keys(result.config.hosts as object), ["app-1", "job-runner-1", "mail-out-1"]);
    assert.equal((result.config.servers as any).job_runner.cmd, `sh -c 'bin/jobs | tee log'`);
    assert.ok(result.notes.includes("servers/Mail.Out: role renamed to mail-out"));
    validateImport(result, "production", ROOT);
  });

  it("leaves out labels berth sets itself, and says so", () => {
    const result = mapKamal(
      {
        service: "svc",
        image: "acme/svc",
        servers: ["192.0.2.1"],
        labels: { service: "other", team: "checkout", "berth.version": "x" },
      },
      { version: "v1", publicKey: TEST_PUBLIC_KEY },
    );
    assert.deepEqual((result.config.servers as any).web.labels, { team: "checkout" });
    assert.deepEqual(
      result.unmapped.filter((u) => u.key.startsWith("labels/")).map((u) => u.key),
      ["labels/service", "labels/berth.version"],
    );
    validateImport(result, "production", ROOT);
  });
});

describe("loading Kamal configuration", () => {
  it("renders ENV tags from the environment, defaults, or marked placeholders", () => {
    const placeholders: { value: string; what: string }[] = [];
    const text = renderErb(
      `a: <%= ENV["SET"] %>\nb: <%= ENV.fetch('UNSET', "dflt") %>\nc: <%= ENV['UNSET'] %>\nd: <%= 1 + 1 %>\n<%# a comment %>`,
      "deploy.yml",
      { SET: "yes" },
      placeholders,
    );
    assert.equal(text, "a: yes\nb: dflt\nc: fill-in-unset\nd: fill-in-erb-1\n");
    assert.deepEqual(
      placeholders.map((p) => p.value),
      ["fill-in-unset", "fill-in-erb-1"],
    );
  });

  it("refuses ERB logic it cannot evaluate, with the line", () => {
    assert.throws(
      () => renderErb("a: 1\n<% if true %>\nb: 2\n<% end %>", "deploy.yml", {}, []),
      /deploy\.yml:2: ERB logic \(<% if true %>\) cannot be evaluated/,
    );
  });

  it("merges the destination file deeply, arrays replaced, and ignores x- keys", () => {
    assert.deepEqual(deepMerge({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { c: [3] }, e: 2 }), {
      a: { b: 1, c: [3] },
      d: 1,
      e: 2,
    });
    const { config } = importFixture("destinations", "staging");
    assert.deepEqual(config.env, { clear: { APP_ENV: "staging" }, secret: ["SECRET_KEY_BASE"] });
    assert.deepEqual(config.proxy, {
      hosts: ["staging.blog.example.org"],
      appPort: 8080,
      ssl: true,
      healthcheck: { path: "/healthz" },
    });
    const single = importFixture("single", undefined, { WEB_HOST: "192.0.2.9" });
    // The x-shared-env anchor reached env through a merge key, and x- keys are not reported.
    assert.deepEqual((single.config.env as any).clear, {
      RAILS_LOG_TO_STDOUT: "1",
      SOLID_QUEUE_IN_PUMA: true,
      WEB_CONCURRENCY: 2,
    });
    assert.ok(!single.unmapped.some((u) => u.key.startsWith("x-")));
  });

  it("requires the destination Kamal requires, and its file", () => {
    assert.throws(() => importFixture("destinations"), /require_destination: a destination is required/);
    assert.throws(
      () => importFixture("destinations", "qa"),
      /Configuration file for destination qa not found in .*deploy\.qa\.yml/,
    );
  });

  it("rejects invalid configuration with Kamal-style messages carrying the path", () => {
    const problems = (kamal: Record<string, unknown>) => {
      try {
        mapKamal(kamal);
      } catch (e) {
        assert.ok(e instanceof KamalConfigError);
        return e.problems;
      }
      assert.fail("expected a KamalConfigError");
    };
    assert.deepEqual(
      problems({
        service: "s",
        image: "i",
        servers: { web: { hosts: ["192.0.2.1"], env: { tags: { a: { X: "1" } } } } },
        colour: "blue",
        proxy: { ssl: "yes", healthcheck: { path: "/up", every: 3 } },
        accessories: { db: { image: "postgres:17" } },
      }),
      [
        "root: unknown key: colour",
        "servers/web/env: tags are only allowed in the root env",
        "proxy/ssl: should be a boolean",
        "proxy/healthcheck: unknown key: every",
        "accessories/db: missing host, hosts, role, roles, tag or tags",
      ],
    );
    assert.deepEqual(problems({ servers: "192.0.2.1" }), [
      "service: required",
      "image: required",
      "servers: should be an array or a hash",
    ]);
  });

  it("refuses to replace different berth settings without --force, and keeps what Pulumi added", () => {
    const dir = copyFixture("local-registry");
    const file = path.join(dir, "Pulumi.production.yaml");
    // What `pulumi stack init` leaves: only the salt. Importing over it needs no --force.
    fs.writeFileSync(file, "encryptionsalt: v1:c2FsdA==:v1:abc\n");
    assert.match(cli(dir, ["--stack", "production", "--version", "v1"]), /^Wrote/);
    assert.match(
      fs.readFileSync(file, "utf8"),
      /^encryptionsalt: v1:c2FsdA==:v1:abc\nconfig:\n {2}berth:service: tiny\n/m,
    );
    // Secrets and provider credentials set since then survive a forced re-import.
    const withSecrets = fs
      .readFileSync(file, "utf8")
      .replace(
        "config:\n",
        "config:\n  hcloud:token:\n    secure: v1:dG9rZW4=\n  berth:secrets:\n    RAILS_MASTER_KEY:\n      secure: v1:a2V5\n",
      );
    fs.writeFileSync(file, withSecrets);
    assert.match(cli(dir, ["--stack", "production", "--version", "v1"]), /^Wrote/);
    const current = fs.readFileSync(file, "utf8");
    assert.match(cli(dir, ["--stack", "production", "--version", "v1"]), /^Unchanged/);
    assert.throws(
      () => cli(dir, ["--stack", "production", "--version", "v2"]),
      /already has different berth settings; pass --force/,
    );
    assert.equal(fs.readFileSync(file, "utf8"), current);
    assert.match(cli(dir, ["--stack", "production", "--version", "v2", "--force"]), /^Wrote/);
    const after = readStackFile(file, testSecret);
    assert.equal(after.config["berth:version"], "v2");
    assert.deepEqual(after.secretKeys.sort(), ["berth:secrets", "hcloud:token"]);
    assert.match(fs.readFileSync(file, "utf8"), /^encryptionsalt: v1:c2FsdA==:v1:abc$/m);
  });
});

/** A Kamal project holding only config/deploy.yml with this text. */
function project(deployYml: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-import-fidelity-"));
  scratch.push(dir);
  fs.mkdirSync(path.join(dir, "config"));
  fs.writeFileSync(path.join(dir, "config", "deploy.yml"), deployYml);
  return dir;
}

/** Imports the text, then renders the stack a user gets after filling in what import asks for. */
async function importAndRender(deployYml: string, args: string[] = [], env: Record<string, string> = {}) {
  const dir = project(deployYml);
  const out = cli(dir, ["--stack", "production", "--version", "v1", "--ssh-public-key", keyFile(dir), ...args], env);
  const text = fs.readFileSync(path.join(dir, "Pulumi.production.yaml"), "utf8");
  const { resources, outputs } = await render(dir, "production");
  const switches = byType(resources, "command:remote:Command").filter((r) =>
    /kamal-proxy deploy/.test(r.inputs.create),
  );
  return {
    out,
    text,
    resources,
    outputs,
    switches,
    config: readStackFile(path.join(dir, "Pulumi.production.yaml"), testSecret),
  };
}

function keyFile(dir: string): string {
  const file = path.join(dir, "id_ed25519.pub");
  fs.writeFileSync(file, `${TEST_PUBLIC_KEY}\n`);
  return file;
}

const KAMAL_BASE = "service: app\nimage: acme/app\n";

describe("importing what the Kamal configuration says, nothing more", () => {
  it("keeps accessory directories where Kamal keeps them: the SSH user's home, <service>-<accessory>", async () => {
    const { resources, config } = await importAndRender(
      `${KAMAL_BASE}servers: [192.0.2.10]\nssh:\n  user: deploy\naccessories:\n  db:\n    image: mysql:8.4\n    host: 192.0.2.10\n    directories:\n      - data:/var/lib/mysql\n      - /srv/backups:/backups\n`,
    );
    assert.deepEqual(JSON.parse(config.config["berth:accessories"]).db.directories, [
      "/home/deploy/app-db/data:/var/lib/mysql",
      "/srv/backups:/backups",
    ]);
    const db = byType(resources, "docker:index/container:Container").find((c) => c.inputs.name === "app-db")!;
    assert.ok(
      db.inputs.volumes.some(
        (v: any) => v.hostPath === "/home/deploy/app-db/data" && v.containerPath === "/var/lib/mysql",
      ),
    );
  });

  it("imports proxy.host without ssl as plain HTTP, Kamal's default", async () => {
    const { switches, config } = await importAndRender(
      `${KAMAL_BASE}servers: [192.0.2.10]\nproxy:\n  host: app.example.com\n`,
    );
    assert.equal(JSON.parse(config.config["berth:proxy"]).ssl, false);
    assert.equal(switches.length, 1);
    assert.match(switches[0].inputs.create, /--host=app\.example\.com/);
    assert.doesNotMatch(switches[0].inputs.create, /--tls/);
  });

  it("puts Kamal's primary_role behind kamal-proxy, and not web", async () => {
    const { switches, config } = await importAndRender(
      `${KAMAL_BASE}primary_role: api\nservers:\n  web: [192.0.2.10]\n  api: [192.0.2.11]\n`,
    );
    const servers = JSON.parse(config.config["berth:servers"]);
    assert.equal(servers.web.proxy, false);
    assert.equal(servers.api.proxy, true);
    assert.deepEqual(
      switches.map((s) => s.name),
      switches.filter((s) => s.name.includes("api")).map((s) => s.name),
    );
    assert.equal(switches.length, 1);
  });

  for (const [what, yml, provision] of [
    [
      "workers only, no proxy",
      `${KAMAL_BASE}primary_role: workers\nservers:\n  workers:\n    hosts: [192.0.2.10]\n    proxy: false\n`,
    ],
    [
      "several proxied hosts",
      `${KAMAL_BASE}servers: [192.0.2.10, 192.0.2.11]\nproxy:\n  hosts: [app.example.com, www.example.com]\n`,
    ],
    ["a proxy answering any host", `${KAMAL_BASE}servers: [192.0.2.10]\n`],
  ].flatMap(([what, yml]) => [
    [what, yml, false],
    [what, yml, true],
  ]) as [string, string, boolean][]) {
    it(`creates no DNS zone, load balancer or certificate Kamal never had: ${what}${provision ? ", --provision" : ""}`, async () => {
      const { resources, switches, text } = await importAndRender(yml, provision ? ["--provision", "cx23@fsn1"] : []);
      const types = new Set(resources.map((r) => r.type));
      for (const t of [
        "hcloud:index/zone:Zone",
        "hcloud:index/loadBalancer:LoadBalancer",
        "hcloud:index/managedCertificate:ManagedCertificate",
      ])
        assert.ok(!types.has(t), `${t} created`);
      assert.ok(
        !resources.some((r) => r.type.startsWith("hcloud:") && r.type.includes("Rrset")),
        "DNS records created",
      );
      assert.doesNotMatch(text, /fill-in-dns/);
      for (const s of switches) assert.doesNotMatch(s.inputs.create, /--host=fill-in/);
      if (what === "a proxy answering any host") assert.doesNotMatch(switches[0].inputs.create, /--host=/);
    });
  }

  it("provisions servers for several proxied hosts with no load balancer, listing the records for every host", async () => {
    const { resources, config, outputs } = await importAndRender(
      `${KAMAL_BASE}servers: [192.0.2.10, 192.0.2.11]\nproxy:\n  hosts: [app.example.com]\n`,
      ["--provision", "cx23@fsn1"],
    );
    assert.equal(byType(resources, "hcloud:index/loadBalancer:LoadBalancer").length, 0);
    assert.equal(byType(resources, "hcloud:index/server:Server").length, 2);
    assert.deepEqual(JSON.parse(config.config["berth:loadBalancer"]), { enabled: false });
    assert.deepEqual(JSON.parse(config.config["berth:dns"]), {
      provider: "none",
      zone: "example.com",
      hosts: ["app.example.com"],
    });
    const a = outputs.dnsRecords.find((r: any) => r.type === "A");
    assert.deepEqual([...a.values].sort(), [outputs.hosts["web-1"].ipv4, outputs.hosts["web-2"].ipv4].sort());
  });

  it("keeps a workers-only configuration without a web role, proxy or load balancer", async () => {
    const { resources, switches, config } = await importAndRender(
      `${KAMAL_BASE}primary_role: workers\nservers:\n  workers:\n    hosts: [192.0.2.10, 192.0.2.11]\n    proxy: false\n`,
    );
    assert.equal(config.config["berth:primaryRole"], "workers");
    assert.equal(JSON.parse(config.config["berth:servers"]).web, undefined);
    assert.equal(config.config["berth:loadBalancer"], undefined);
    assert.equal(switches.length, 0);
    assert.equal(byType(resources, "berth:proxy:Proxy").length, 0);
  });

  it("maps host tags and env tags, and Kamal 1's root healthcheck to kamal-proxy's", async () => {
    const { resources, switches, config } = await importAndRender(
      `${KAMAL_BASE}servers:\n  web:\n    - 192.0.2.10: primary\nproxy:\n  host: app.example.com\nenv:\n  clear:\n    A: "1"\n  tags:\n    primary:\n      WRITER: "true"\nhealthcheck:\n  path: /up\n  port: 80\n  max_attempts: 7\n  interval: 10s\n`,
    );
    assert.deepEqual(JSON.parse(config.config["berth:hosts"])["web-1"].tags, ["primary"]);
    assert.deepEqual(JSON.parse(config.config["berth:env"]).tags, { primary: { clear: { WRITER: "true" } } });
    const app = byType(resources, "docker:index/container:Container").find((c) => c.name.startsWith("app-web-"))!;
    assert.ok(app.inputs.envs.includes("WRITER=true"), "the tagged host's container gets the tag's env");
    assert.match(switches[0].inputs.create, /--health-check-port=80/);
    assert.match(switches[0].inputs.create, /--health-check-interval=10s/);
    assert.match(switches[0].inputs.create, /--deploy-timeout=70s/, "interval x max_attempts");
  });

  it("evaluates ENV lookups with || defaults and fetch with a default, never other Ruby", () => {
    const dir = project(
      `service: <%= ENV["SERVICE"] || "shop" %>\nimage: <%= ENV.fetch("IMAGE", "acme/shop") %>\nservers: [<%= ENV['HOST'] || ENV['FALLBACK_HOST'] %>]\nproxy:\n  host: <%= ENV["APP_HOST"] %>\n`,
    );
    const source = loadKamal({
      file: path.join(dir, "config", "deploy.yml"),
      env: { FALLBACK_HOST: "192.0.2.7" },
      readFile: (f) => (fs.existsSync(f) ? fs.readFileSync(f, "utf8") : undefined),
    });
    assert.equal(source.config.service, "shop");
    assert.equal(source.config.image, "acme/shop");
    assert.deepEqual(source.config.servers, ["192.0.2.7"]);
    assert.equal((source.config.proxy as any).host, "fill-in-app-host");
    // The unset variable lands in a checked field: the import writes it, the stack refuses it.
    cli(dir, ["--stack", "production", "--version", "v1", "--ssh-public-key", keyFile(dir)]);
    const file = readStackFile(path.join(dir, "Pulumi.production.yaml"), testSecret);
    assert.throws(
      () => parseConfig(fromEngineConfig(file.config), "production"),
      /berth:proxy\.hosts\[0\]: still holds the placeholder fill-in-app-host/,
    );
    assert.match(fs.readFileSync(path.join(dir, "Pulumi.production.yaml"), "utf8"), /ERB tag <%= ENV\["APP_HOST"\] %>/);
  });

  it("keeps single-word SSH host aliases, registries with a port, and Kamal's local registry", async () => {
    const { config, out } = await importAndRender(
      `service: app\nimage: app\nservers: [homelab]\nregistry:\n  server: localhost:5555\nproxy:\n  run:\n    registry: registry.example.com:4443\n    version: v0.9.2\n`,
    );
    const hosts = JSON.parse(config.config["berth:hosts"]);
    assert.deepEqual(Object.keys(hosts), ["web-1"]);
    assert.equal(hosts["web-1"].address, "homelab");
    // berth checks an existing machine's host key: the import leaves a placeholder for it.
    assert.equal(hosts["web-1"].hostKeys.length, 1);
    assert.match(hosts["web-1"].hostKeys[0], /^ssh-ed25519 AAAA\S+ fill-in-web-1-host-key$/);
    assert.throws(
      () => parseConfig(fromEngineConfig(config.config), "production"),
      /berth:hosts\.web-1\.hostKeys\[0\]: still holds the placeholder fill-in-web-1-host-key that `berth import` wrote: replace it with the machine's SSH host key \(`ssh-keyscan/,
    );
    assert.equal(config.config["berth:image"], "localhost:5555/app");
    assert.equal(
      JSON.parse(config.config["berth:proxy"]).image,
      "registry.example.com:4443/basecamp/kamal-proxy:v0.9.2",
    );
    assert.match(out, /localhost:5555 is Kamal's local registry/);
  });

  it("maps Kamal aliases with a berth equivalent to berth:aliases", () => {
    const result = mapKamal(
      {
        ...{ service: "app", image: "acme/app", servers: ["192.0.2.10"] },
        aliases: {
          rails: 'app exec --reuse -p -r console "bin/rails"',
          tail: "app logs -f -r web",
          db_logs: "accessory logs db",
          info: "details -p",
          console: 'app exec -i --reuse "bin/rails console"',
          ship: "deploy -d production",
        },
      },
      { version: "v1", publicKey: TEST_PUBLIC_KEY },
    );
    assert.deepEqual(result.config.aliases, {
      rails: "exec --role console bin/rails",
      tail: "logs --follow --role web",
      "db-logs": "accessory logs db",
      info: "details",
    });
    assert.deepEqual(
      result.unmapped.map((u) => u.key),
      ["aliases/console", "aliases/ship"],
    );
  });

  it("answers a YAML alias bomb and a missing --ssh-public-key file in one line, without a stack trace", async () => {
    const bomb = project(
      `a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n${KAMAL_BASE}servers: [192.0.2.10]\n`,
    );
    for (const [dir, args, expected] of [
      [bomb, ["--version", "v1"], /anchors and aliases expand into too many values/],
      [
        project(`${KAMAL_BASE}servers: [192.0.2.10]\n`),
        ["--ssh-public-key", "missing.pub"],
        /--ssh-public-key: .*missing\.pub not found/,
      ],
    ] as const) {
      let err = "";
      const code = await runCli(["import", "--stack", "production", ...args], {
        out: () => {},
        err: (t) => (err += t),
        env: {},
        cwd: dir,
        confirm: async () => false,
      });
      assert.equal(code, 1);
      assert.match(err, expected);
      assert.doesNotMatch(err, /\n\s+at /, "stack trace printed");
    }
  });

  it("takes time in proportion to the file's size", () => {
    const config = (n: number) =>
      `${KAMAL_BASE}servers: [192.0.2.10]\nenv:\n  clear:\n${Array.from({ length: n }, (_, i) => `    VAR_${i}: value-${i}\n`).join("")}`;
    const time = (n: number) => {
      const dir = project(config(n));
      const file = path.join(dir, "config", "deploy.yml");
      let best = Infinity;
      for (let i = 0; i < 2; i++) {
        const start = process.hrtime.bigint();
        loadKamal({ file, env: {}, readFile: (f) => fs.readFileSync(f, "utf8") });
        best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e6);
      }
      return best;
    };
    time(1000); // warm up
    const small = time(5000);
    const large = time(20000);
    // 4x the keys: linear is about 4x; comparing every key with every other one was 16x and more.
    assert.ok(
      large / small < 9,
      `4x the keys took ${(large / small).toFixed(1)}x the time (${small.toFixed(0)} ms -> ${large.toFixed(0)} ms)`,
    );
  });
});
