// Longer than 400 lines: every accessory kind renders from one base configuration, and the docs' examples are checked beside the cases they document.
// Accessories: PostGIS on its volume, Litestream with restore and backups, generic services;
// their data protected, their ports private, their secrets secret, and deploys leaving them be.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { ConfigError, parseConfig } from "../../config/load";
import { StackOutputs } from "../../components/deployment";
import {
  diffRenders,
  named,
  Recorded,
  ROOT,
  runIndex,
  stackConfig,
  transitiveDependencies,
  versionBump,
} from "../support/harness";
import { shellcheck } from "../support/validate";
import { accessoryConfig, Change, renderConfig } from "../support/configs";

const render = (change?: Change) => renderConfig(accessoryConfig(change));

function problems(change: Change): string[] {
  const raw = accessoryConfig(change);
  try {
    parseConfig(raw, "production");
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail("the config was accepted");
}

describe("postgis accessory", () => {
  let resources: Recorded[];
  let outputs: StackOutputs;
  let resolved: Record<string, any>;
  before(async () => {
    const r = await render();
    resources = r.resources;
    outputs = r.stackOutputs;
    resolved = r.outputs;
  });

  it("binds its port to the database host's private address, never a public one", () => {
    const db = named(resources, "db-db-1");
    assert.deepEqual(db.inputs.ports, [{ internal: 5432, external: 5432, ip: "10.0.1.10", protocol: "tcp" }]);
    const redis = named(resources, "redis-web-1");
    assert.deepEqual(redis.inputs.ports, [{ internal: 6379, external: 6379, ip: "127.0.0.1", protocol: "tcp" }]);
  });

  it("keeps its data directory on the host's protected, retained volume, mounted before it starts", () => {
    const db = named(resources, "db-db-1");
    assert.deepEqual(
      db.inputs.volumes.find((v: any) => v.containerPath === "/var/lib/postgresql/data"),
      { hostPath: "/mnt/berth/pgdata/shop-db/data", containerPath: "/var/lib/postgresql/data", readOnly: false },
    );
    const volume = named(resources, "db-1-pgdata-volume");
    assert.ok(volume.protect && volume.retainOnDelete);
    assert.ok(transitiveDependencies(resources, db).has(named(resources, "db-1-pgdata-mount").urn));
    assert.equal(db.deleteBeforeReplace, true);
  });

  it("protects the host that runs an accessory, even when not marked stateful", () => {
    assert.equal(named(resources, "db-1-server").protect, true);
    assert.equal(named(resources, "web-1-server").protect, true, "web-1 runs redis");
  });

  it("checks health with pg_isready, sets user, database and password (as a secret), enables postgis", () => {
    const db = named(resources, "db-db-1");
    assert.deepEqual(db.inputs.healthcheck.tests, ["CMD", "pg_isready", "-U", "shop", "-d", "shop"]);
    assert.ok(db.inputs.envs.includes("POSTGRES_DB=shop") && db.inputs.envs.includes("POSTGRES_USER=shop"));
    const file = named(resources, "db-db-1-password-file");
    assert.equal(file.inputs.stdin, "sentinel p@ss/word");
    assert.equal(file.raw.stdin[pulumi.runtime.specialSigKey], pulumi.runtime.specialSecretSig);
    assert.match(file.inputs.create, /chmod 0600 /);
    assert.ok(db.inputs.envs.includes("POSTGRES_PASSWORD_FILE=/run/secrets/postgres-password"));
    assert.deepEqual(
      db.inputs.volumes.find((v: any) => v.containerPath === "/run/secrets/postgres-password"),
      {
        hostPath: "/mnt/berth/pgdata/shop-db/files/run/secrets/postgres-password",
        containerPath: "/run/secrets/postgres-password",
        readOnly: true,
      },
    );
    assert.ok(!JSON.stringify(db.inputs.envs).includes("sentinel"), "the password is in no container input");
    const ext = named(resources, "db-db-1-extensions");
    assert.match(ext.inputs.create, /CREATE EXTENSION IF NOT EXISTS "postgis"/);
    assert.ok(!ext.inputs.create.includes("sentinel"));
  });

  it("exports DATABASE_URL as a secret and gives it to every app container", async () => {
    assert.equal(await outputs.databaseUrls.isSecret, true);
    const url = "postgres://shop:sentinel%20p%40ss%2Fword@10.0.1.10:5432/shop";
    assert.equal(resolved.databaseUrls.db, url);
    const app = resources.find((r) => r.name.startsWith("shop-web-web-1-v1"))!;
    assert.ok(app.inputs.envs.includes(`DATABASE_URL=${url}`));
    const raw = app.raw.envs.find((e: any) => JSON.stringify(e).includes("DATABASE_URL"));
    assert.equal(raw[pulumi.runtime.specialSigKey], pulumi.runtime.specialSecretSig);
    assert.deepEqual(resolved.accessories.db, {
      hosts: ["db-1"],
      container: "shop-db",
      image: "postgis/postgis:17-3.5",
      port: 5432,
    });
  });

  it("gives every app container DATABASE_HOST, the address in the URL", () => {
    const apps = resources.filter(
      (r) => r.type === "docker:index/container:Container" && r.name.startsWith("shop-web-"),
    );
    assert.ok(apps.length > 0);
    for (const app of apps) assert.ok(app.inputs.envs.includes("DATABASE_HOST=10.0.1.10"), app.name);
  });

  it("rotating the password changes no database container input; the running database gets it before the apps get the new URL", async () => {
    const rotated = await render((c) => (c.secrets.PG_PASS = "sentinel rotated"));
    const diff = diffRenders(resources, rotated.resources);
    const changed = diff.changed.map((r) => r.name).sort();
    assert.ok(!changed.includes("db-db-1"), "the database container is neither replaced nor restarted");
    // The apps' new DATABASE_URL is a change to what they run: new containers beside the old ones.
    const app = (r: Recorded) => r.type === "docker:index/container:Container" && r.name.startsWith("shop-web-");
    assert.ok(diff.created.length > 0 && diff.created.every(app), diff.created.map((r) => r.name).join(", "));
    assert.ok(diff.deleted.length > 0 && diff.deleted.every(app), diff.deleted.map((r) => r.name).join(", "));
    const password = named(rotated.resources, "db-db-1-password");
    assert.ok(changed.includes("db-db-1-password"), "its stdin changed: the command runs again");
    assert.equal(password.inputs.stdin, "sentinel rotated\nsentinel rotated\n");
    assert.equal(password.raw.stdin[pulumi.runtime.specialSigKey], pulumi.runtime.specialSecretSig);
    assert.match(password.inputs.create, /docker exec -i shop-db psql .* -U shop -d shop -c '\\password shop'/);
    assert.ok(!password.inputs.create.includes("sentinel"));
    assert.ok(password.dependencies.includes(named(rotated.resources, "db-db-1-ready").urn));
    for (const r of rotated.resources.filter(
      (r) => r.type === "docker:index/container:Container" && r.name.startsWith("shop-"),
    )) {
      assert.ok(transitiveDependencies(rotated.resources, r).has(password.urn), `${r.name} starts after the rotation`);
    }
  });

  it("uses the container name when the app runs on the database host", async () => {
    const { outputs } = await render((c) => {
      c.servers.web.hosts = ["db-1"];
      c.accessories.db.port = "127.0.0.1:5432:5432";
      delete c.accessories.redis;
    });
    assert.equal(outputs.databaseUrls.db, "postgres://shop:sentinel%20p%40ss%2Fword@shop-db:5432/shop");
  });

  it("backs up with pg_dump before the new version's containers start, on every deploy", () => {
    const backup = named(resources, "shop-db-db-1-backup");
    assert.match(
      backup.inputs.create,
      /docker exec "\$1" pg_dump -U "\$2" -Fc "\$3" > "\$4.tmp"' sh shop-db shop shop "\$out"/,
    );
    assert.match(backup.inputs.create, /\/mnt\/berth\/pgdata\/shop-db\/backups/);
    assert.match(backup.inputs.create, /tail -n \+4/, "keeps 3");
    // Every release: a new version, or a change to what the app's containers run.
    assert.equal(backup.inputs.triggers[0], "v1");
    assert.match(backup.inputs.triggers[1], /^web=[0-9a-f]{8}$/);
    const app = resources.find((r) => /^shop-web-web-1-v1-[0-9a-f]{8}$/.test(r.name))!;
    assert.ok(transitiveDependencies(resources, app).has(backup.urn));
    assert.ok(transitiveDependencies(resources, backup).has(named(resources, "db-db-1-extensions").urn));
    shellcheck("backup", backup.inputs.create);
  });

  it("uploads files through stdin with their mode, creates directories, mounts both", () => {
    const file = named(resources, "redis-web-1-file-usr-local-etc-redis-redis.conf");
    assert.equal(file.inputs.stdin, "maxmemory 100mb\n");
    assert.match(file.inputs.create, /chmod 0600/);
    assert.match(
      file.inputs.create,
      /\/root\/.berth\/accessories\/shop-redis\/files\/usr\/local\/etc\/redis\/redis.conf/,
    );
    const redis = named(resources, "redis-web-1");
    assert.deepEqual(redis.inputs.command, ["redis-server", "/usr/local/etc/redis/redis.conf"]);
    assert.deepEqual(redis.inputs.volumes, [
      { hostPath: "/root/.berth/accessories/shop-redis/data", containerPath: "/data", readOnly: false },
      {
        hostPath: "/root/.berth/accessories/shop-redis/files/usr/local/etc/redis/redis.conf",
        containerPath: "/usr/local/etc/redis/redis.conf",
        readOnly: true,
      },
    ]);
    assert.equal(redis.inputs.memory, 256);
    assert.deepEqual(redis.inputs.networksAdvanced, [{ name: "kamal", aliases: ["shop-redis"] }]);
    const dirs = named(resources, "redis-web-1-directories");
    assert.match(dirs.inputs.create, /mkdir -p \/root\/.berth\/accessories\/shop-redis\/data/);
    for (const r of [file, dirs]) shellcheck(r.name, r.inputs.create);
  });

  it("rotates accessory logs at 10 MB (Kamal's default), so a database cannot fill the disk with logs", () => {
    for (const name of ["db-db-1", "redis-web-1"]) {
      const c = named(resources, name);
      assert.deepEqual(c.inputs.logOpts, { "max-size": "10m" }, name);
    }
  });

  it("starts the app only after the accessories answer", () => {
    const app = resources.find((r) => /^shop-web-web-1-v1-[0-9a-f]{8}$/.test(r.name))!;
    const deps = transitiveDependencies(resources, app);
    assert.ok(deps.has(named(resources, "redis-web-1-ready").urn));
    assert.ok(deps.has(named(resources, "db-db-1-extensions").urn));
  });
});

describe("DATABASE_URL changes", () => {
  it("a database that stops being local to the app gives the app new containers, not changed ones", async () => {
    const onWeb = (c: Record<string, any>) => {
      c.accessories.db.host = "web-1";
      delete c.accessories.db.volume;
      delete c.accessories.redis;
    };
    const before = (await render(onWeb)).resources;
    const after = (
      await render((c) => {
        onWeb(c);
        // The app gets a second host, so DATABASE_URL names web-1's private address instead of
        // the database container.
        c.hosts["web-2"] = { serverType: "cx23", location: "fsn1" };
        c.servers.web.hosts = ["web-1", "web-2"];
        c.dns = { zone: "example.com", hosts: ["shop.example.com"] };
      })
    ).resources;
    const diff = diffRenders(before, after);
    const changedApp = diff.changed.filter(
      (r) => r.type === "docker:index/container:Container" && r.name.startsWith("shop-web-"),
    );
    assert.deepEqual(
      changedApp.map((r) => r.name),
      [],
    );
    assert.ok(diff.deleted.some((r) => /^shop-web-web-1-v1-[0-9a-f]{8}$/.test(r.name)));
  });
});

describe("litestream accessory (staging example)", () => {
  let resources: Recorded[];
  before(async () => {
    resources = (await runIndex("staging", stackConfig("staging"))).resources;
  });

  it("writes litestream.yml in Litestream 0.3.13's format: every Rails database with its S3 replica, no credentials", () => {
    const file = named(resources, "litestream-staging-1-file-etc-litestream.yml");
    const text: string = file.inputs.stdin;
    assert.ok(!text.includes("test-secret-value"), "no credentials in the file");
    assert.match(text, /^# Litestream 0\.3\.13/);
    const config = parse(text);
    assert.deepEqual(Object.keys(config), ["dbs"]);
    assert.deepEqual(
      config.dbs.map((d: any) => d.path),
      ["production", "production_cache", "production_queue", "production_cable"].map((n) => `/data/${n}.sqlite3`),
    );
    for (const db of config.dbs) {
      assert.deepEqual(db.replicas, [
        {
          type: "s3",
          bucket: "example-myapp-backups",
          path: `staging/${db.path.slice("/data/".length)}`,
          endpoint: "https://fsn1.your-objectstorage.com",
          region: "fsn1",
        },
      ]);
    }
  });

  it("runs replicate on the app's storage volume with credentials as secret variables", () => {
    const c = named(resources, "litestream-staging-1");
    const image = named(resources, "litestream-staging-1-image");
    assert.equal(image.inputs.name, "litestream/litestream:0.3.13");
    assert.ok(c.dependencies.includes(image.urn), "the container runs the pulled image");
    assert.deepEqual(c.inputs.command, ["replicate", "-config", "/etc/litestream.yml"]);
    assert.ok(c.inputs.volumes.some((v: any) => v.volumeName === "storage" && v.containerPath === "/data"));
    const creds = c.raw.envs.filter((e: any) => JSON.stringify(e).includes("LITESTREAM_"));
    assert.equal(creds.length, 2);
    for (const e of creds) assert.equal(e[pulumi.runtime.specialSigKey], pulumi.runtime.specialSecretSig);
  });

  it("restores missing databases before the app's first container and before replication starts", () => {
    const restore = named(resources, "litestream-staging-1-restore");
    assert.match(restore.inputs.create, /restore -config \/etc\/litestream.yml -if-db-not-exists -if-replica-exists/);
    assert.equal((restore.inputs.create.match(/ restore /g) ?? []).length, 4);
    assert.ok(!restore.inputs.create.includes("test-secret-value"));
    assert.equal(restore.raw.stdin[pulumi.runtime.specialSigKey], pulumi.runtime.specialSecretSig);
    // The pull runs beside the restore (every host pulls first); the app's container waits for it.
    const app = resources.find(
      (r) => r.type === "docker:index/container:Container" && r.name.startsWith("myapp-web-staging-1-"),
    )!;
    assert.ok(transitiveDependencies(resources, app).has(restore.urn), "the app's container waits for the restore");
    assert.ok(transitiveDependencies(resources, named(resources, "litestream-staging-1")).has(restore.urn));
  });

  it("copies every database before a deploy", () => {
    const backup = named(resources, "myapp-litestream-staging-1-backup");
    assert.equal(
      (backup.inputs.create.match(/litestream restore -config \/etc\/litestream.yml -if-replica-exists -o/g) ?? [])
        .length,
      4,
    );
  });
});

describe("accessories and deploys", () => {
  for (const stack of ["staging", "production"]) {
    it(`${stack}: a version bump leaves every accessory resource as it is`, async () => {
      const { before, after } = await versionBump(stack);
      const diff = diffRenders(before, after);
      const accessory = (r: Recorded) =>
        r.parent.includes("berth:accessory:Accessory") || r.type === "berth:accessory:Accessory";
      const touched = [...diff.created, ...diff.deleted, ...diff.changed].filter(accessory);
      assert.deepEqual(
        touched.map((r) => r.name),
        [],
      );
      assert.ok(diff.same.filter(accessory).length >= 5);
    });
  }

  it("changing an accessory's image changes only that accessory", async () => {
    const before = (await render()).resources;
    const after = (await render((c) => (c.accessories.redis.image = "redis:7.4.1"))).resources;
    const diff = diffRenders(before, after);
    const touched = [...diff.created, ...diff.deleted, ...diff.changed];
    assert.ok(touched.length > 0);
    for (const r of touched) assert.match(r.name, /^redis-web-1/, `${r.name} must not change`);
  });
});

describe("accessory configuration", () => {
  const cases: [string, Change, RegExp][] = [
    [
      "a public port",
      (c) => (c.accessories.db.port = "0.0.0.0:5432:5432"),
      /accessories\.db\.port: binds 0\.0\.0\.0, a public address/,
    ],
    ["no placement", (c) => delete c.accessories.redis.host, /accessories\.redis\.host: required: say where it runs/],
    [
      "two placements",
      (c) => (c.accessories.redis.roles = ["web"]),
      /accessories\.redis\.roles: set only one of host, hosts and roles/,
    ],
    [
      "an unknown host",
      (c) => (c.accessories.db.host = "db-2"),
      /accessories\.db\.host: unknown host "db-2".*did you mean "db-1"/,
    ],
    [
      "an unknown volume",
      (c) => (c.accessories.db.volume = "pg"),
      /accessories\.db\.volume: host db-1 has no volume "pg"/,
    ],
    ["an unpinned image", (c) => (c.accessories.redis.image = "redis"), /accessories\.redis\.image: pin a version/],
    ["latest", (c) => (c.accessories.redis.image = "redis:latest"), /accessories\.redis\.image: pin a version/],
    [
      "a missing secret",
      (c) => delete c.secrets.PG_PASS,
      /accessories\.db\.postgres\.passwordSecret: secret "PG_PASS" is not set/,
    ],
    [
      "no port for remote app hosts",
      (c) => delete c.accessories.db.port,
      /accessories\.db\.port: required: the app runs on other hosts/,
    ],
    [
      "backup of a generic accessory",
      (c) => (c.accessories.redis.backup = {}),
      /accessories\.redis\.backup: backups are for postgres and litestream/,
    ],
    [
      "a missing local file",
      (c) => (c.accessories.redis.files = ["config/nope.conf:/etc/x.conf"]),
      /accessories\.redis\.files\[0\]: local file config\/nope\.conf not found/,
    ],
    [
      "litestream off the app's volumes",
      (c) =>
        (c.accessories.ls = {
          host: "web-1",
          litestream: {
            volume: "data",
            replica: { bucket: "b", accessKeyIdSecret: "PG_PASS", secretAccessKeySecret: "PG_PASS" },
          },
        }),
      /accessories\.ls\.litestream\.volume: "data" is not a volume of the app/,
    ],
    [
      "an unknown key",
      (c) => (c.accessories.db.potr = 5432),
      /accessories\.db\.potr: unknown key; did you mean "port"\?/,
    ],
  ];
  for (const [what, change, message] of cases) {
    it(`rejects ${what} with its path`, () => {
      const found = problems(change);
      assert.ok(
        found.some((p) => message.test(p)),
        `expected ${message} among:\n${found.join("\n")}`,
      );
    });
  }

  it("accepts a public port when asked explicitly", () => {
    const raw = accessoryConfig();
    raw.accessories.redis.port = "0.0.0.0:6379:6379";
    raw.accessories.redis.publicPort = true;
    assert.equal(parseConfig(raw, "production").accessories.find((a) => a.name === "redis")!.port!.bind, "0.0.0.0");
  });
});

describe("accessory scripts", () => {
  it("pass shellcheck in every example stack", async () => {
    const resources = [
      ...(await runIndex("staging", stackConfig("staging"))).resources,
      ...(await runIndex("production", stackConfig("production"))).resources,
    ];
    const scripts = resources.filter(
      (r) =>
        r.type === "command:remote:Command" && /-(restore|backup|extensions|directories|ready)$|-file-/.test(r.name),
    );
    assert.ok(scripts.length >= 6);
    for (const r of scripts) shellcheck(r.name, r.inputs.create);
  });
});

describe("the accessory examples of docs/accessories.md", () => {
  it("are valid berth configuration", () => {
    const section = fs.readFileSync(path.join(ROOT, "docs", "accessories.md"), "utf8");
    const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parse(m[1]));
    assert.equal(blocks.length, 3);
    for (const block of blocks) {
      const raw = accessoryConfig();
      for (const [key, value] of Object.entries(block as Record<string, any>)) {
        const name = key.replace(/^berth:/, "");
        raw[name] = name === "hosts" ? { ...raw.hosts, ...value } : value;
      }
      raw.hosts["web-1"] ??= { serverType: "cx23", location: "fsn1" };
      raw.hosts["staging-1"] = { serverType: "cx23", location: "fsn1" };
      raw.servers.web.hosts = ["web-1", "staging-1"];
      raw.dns = { zone: "example.com", hosts: ["example.com"] };
      raw.secrets = Object.fromEntries(
        [
          "POSTGRES_PASSWORD",
          "LITESTREAM_ACCESS_KEY_ID",
          "LITESTREAM_SECRET_ACCESS_KEY",
          "MYSQL_ROOT_PASSWORD",
          "MYSQL_PASSWORD",
        ].map((n) => [n, "x"]),
      );
      raw.secrets.BERTH_FINGERPRINT_KEY = "a-random-key-of-at-least-32-characters";
      const files = fs.mkdtempSync(path.join(os.tmpdir(), "berth-readme-"));
      fs.mkdirSync(path.join(files, "config/mysql"), { recursive: true });
      fs.writeFileSync(path.join(files, "config/mysql/production.cnf"), "[mysqld]\n");
      try {
        const cfg = parseConfig(raw, "production", undefined, files);
        assert.ok(cfg.accessories.length > 0);
      } finally {
        fs.rmSync(files, { recursive: true, force: true });
      }
    }
  });
});
