// Longer than 400 lines: the three ways data enters (the stack file, secrets, topology rules) share the readers and the table style of their cases.
// Where a user's data enters: the stack file read exactly as the Pulumi CLI reads it, secrets
// refused in plain text and never repeated, and every mistake answered with one message that
// names the place, what was expected and the fix.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { ConfigError, configKeyProblems, fromEngineConfig, parseConfig, readStackFile } from "../../config/load";
import { ROOT, runIndex, stackConfig } from "../support/harness";
import { minimalConfig } from "../support/configs";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-config-input-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: berth\nruntime: nodejs\n");

function stackFile(body: string, stack = "edge"): string {
  const file = path.join(dir, `Pulumi.${stack}.yaml`);
  fs.writeFileSync(file, body);
  return file;
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail("accepted");
}

const staging = fs.readFileSync(path.join(ROOT, "Pulumi.staging.yaml"), "utf8");
const SECRETS = {
  KAMAL_REGISTRY_PASSWORD: "a",
  RAILS_MASTER_KEY: "b",
  LITESTREAM_ACCESS_KEY_ID: "c",
  LITESTREAM_SECRET_ACCESS_KEY: "d",
  BERTH_FINGERPRINT_KEY: "0123456789abcdef0123456789abcdef",
};
/** The 1-based line of `text` that starts with `start`, so positions follow edits of the example. */
function lineOf(text: string, start: string): number {
  const line = text.split("\n").findIndex((l) => l.startsWith(start)) + 1;
  assert.ok(line > 0, `no line starts with ${start}`);
  return line;
}
/** Reads a variant of the staging stack file and validates it, secrets supplied. */
function stagingProblems(change: (text: string) => string): string[] {
  return problemsOf(() => {
    const file = readStackFile(stackFile(change(staging)), () => "x");
    parseConfig({ ...fromEngineConfig(file.config), secrets: SECRETS }, "edge");
  });
}

describe("reading Pulumi.<stack>.yaml as the Pulumi CLI does", () => {
  // The engine's string for each unquoted scalar. Source: the CLI decodes stack files with
  // gopkg.in/yaml.v3 (resolve.go) into Go values and hands each on as text
  // (pulumi sdk/go/common/resource/config/object.go MarshalString, value.go UnmarshalYAML);
  // checked against yaml.v3 v3.0.1 decoding and re-encoding the same file.
  const table: [written: string, engine: string][] = [
    ["2026.10", "2026.1"],
    ["1.10", "1.1"],
    ["2026.11.1", "2026.11.1"],
    ["42", "42"],
    ["-7", "-7"],
    ["+12", "12"],
    ["1_000", "1000"],
    ["0777", "511"],
    ["01234", "668"],
    ["08", "8"],
    ["0o17", "15"],
    ["0x1F", "31"],
    ["0b101", "5"],
    ["12345678901234567890", "12345678901234567890"],
    ["123456789012345678901234567890", "1.2345678901234568e+29"],
    ["1e3", "1000"],
    ["1e10", "10000000000"],
    ["6.02e+23", "6.02e+23"],
    ["3.0", "3"],
    [".5", "0.5"],
    ["true", "true"],
    ["True", "true"],
    ["FALSE", "false"],
    ["yes", "yes"],
    ["on", "on"],
    ["y", "y"],
    ["~", "null"],
    ["null", "null"],
    ["2026-10-01", "2026-10-01 00:00:00 +0000 UTC"],
    ["2026-10-01T12:30:00Z", "2026-10-01 12:30:00 +0000 UTC"],
    ["2026-10-01T12:30:00.5+02:00", "2026-10-01 12:30:00.5 +0200 +0200"],
    ["2026-13-01", "2026-13-01"],
    ["1.2.3-rc.1", "1.2.3-rc.1"],
    ["abc123", "abc123"],
  ];
  for (const [written, engine] of table) {
    it(`${written} -> "${engine}"`, () => {
      const file = readStackFile(stackFile(`config:\n  p:key: ${written}\n`), () => "x");
      assert.equal(file.config["p:key"], engine);
    });
  }

  it("keeps quoted scalars and !!str as written, and hands objects over as JSON with sorted keys", () => {
    const file = readStackFile(
      stackFile(
        'config:\n  p:q: "2026.10"\n  p:t: !!str 0777\n  p:o:\n    z: 2026.10\n    a: [0777, yes, 2026-10-01, ~]\n',
      ),
      () => "x",
    );
    assert.deepEqual(file.config, {
      "p:q": "2026.10",
      "p:t": "0777",
      "p:o": '{"a":[511,"yes","2026-10-01 00:00:00 +0000 UTC",null],"z":2026.1}',
    });
  });

  it("refuses a berth value Pulumi would read differently, with the quoted fix and its line", () => {
    const problems = stagingProblems((t) => t.replace('berth:version: "2026.11.1"', "berth:version: 2026.10"));
    const line = lineOf(staging, "  berth:version:");
    assert.deepEqual(problems, [
      `berth:version (Pulumi.edge.yaml:${line}:18): Pulumi reads the unquoted 2026.10 as 2026.1; quote it to keep it as written: "2026.10"`,
    ]);
  });

  it("files a key written without a namespace under the project, as Pulumi does", () => {
    const file = readStackFile(stackFile(staging.replace("berth:assetPath:", "assetPath:")), () => "x");
    assert.equal(file.config["berth:assetPath"], "/rails/public/assets");
  });

  it("reports keys berth would never read: another project's namespace, a misspelt berth", () => {
    const all = { "shop:assetPath": "/x", "bert:service": "shop", "hcloud:token": "t", "berth:service": "s" };
    assert.deepEqual(
      configKeyProblems(all, "shop", () => true, "prod"),
      [
        "shop:assetPath: berth reads only keys of the berth: namespace; this key (written without a namespace, so Pulumi filed it under the project shop) is ignored: write it as berth:assetPath",
        "bert:service: unknown namespace bert; did you mean berth:service?",
      ],
    );
  });

  it("answers an indentation mistake with one message at the line and column of the mistake", () => {
    const problems = problemsOf(() =>
      readStackFile(
        stackFile(staging.replace("    staging-1:\n      serverType: cx23", "    staging-1:\n     serverType: cx23")),
        () => "x",
      ),
    );
    assert.equal(problems.length, 1, problems.join("\n"));
    const line = lineOf(staging, "    staging-1:") + 1;
    assert.match(problems[0], new RegExp(`^Pulumi\\.edge\\.yaml:${line}:\\d+: .*indentation`));
  });

  it("answers a key indented at its parent's level with one message naming both", () => {
    const problems = stagingProblems((t) =>
      t.replace(
        "  berth:servers:\n    web:\n      hosts: [staging-1]",
        "  berth:servers:\n    web:\n    hosts: [staging-1]",
      ),
    );
    assert.deepEqual(problems, [
      "berth:servers.web: is empty, and `hosts` below it is indented at its level: indent `hosts` two more spaces so it belongs to `web`",
    ]);
  });

  it("says where in the stack file a problem is, when the program runs under pulumi", async () => {
    const text = staging.replace(
      "  berth:servers:\n    web:\n      hosts: [staging-1]",
      "  berth:servers:\n    web:\n    hosts: [staging-1]",
    );
    const file = readStackFile(stackFile(text), () => "x");
    file.config["berth:secrets"] = JSON.stringify(SECRETS);
    file.secretKeys.push("berth:secrets");
    const cwd = process.cwd();
    process.chdir(dir); // pulumi runs the program in the project directory, beside the stack file
    try {
      const refused = await runIndex("edge", file).then(
        () => "rendered",
        (err: Error) => err.message,
      );
      const line = text.split("\n").indexOf("    web:") + 1;
      assert.match(
        refused,
        new RegExp(`- berth:servers\\.web \\(Pulumi\\.edge\\.yaml:${line}:5\\): is empty, and \`hosts\``),
      );
    } finally {
      process.chdir(cwd);
    }
  });

  it("names what was expected and the fix instead of zod's wording", () => {
    const problems = stagingProblems((t) => t.replace("beforeDeploy: true", 'beforeDeploy: "true"'));
    assert.deepEqual(problems, [
      'berth:accessories.litestream.backup.beforeDeploy: expected true or false, found the quoted text "true": write true or false without quotes',
    ]);
  });

  it("reports a role naming a host that does not exist once, pointing at the unused one", () => {
    const spare = (t: string) =>
      t.replace(
        "      location: fsn1\n",
        "      location: fsn1\n    staging-2:\n      serverType: cx23\n      location: fsn1\n",
      );
    assert.deepEqual(
      stagingProblems((t) => spare(t).replace("hosts: [staging-1]", "hosts: [staging-1, staging2]")),
      ['berth:servers.web.hosts[1]: unknown host "staging2"; define it under berth:hosts or did you mean "staging-2"?'],
    );
  });

  // A mistake about hosts and roles is one message, never a second one that points elsewhere.
  const base = (): Record<string, any> => ({
    ...minimalConfig("1"),
    hosts: { "web-1": { serverType: "cx23", location: "fsn1" }, "db-1": { serverType: "cx23", location: "fsn1" } },
  });
  const single: [string, (c: Record<string, any>) => void, string][] = [
    ["a role with no hosts", (c) => (c.servers.web.hosts = []), "berth:servers.web.hosts: list at least one host"],
    [
      "a primary role that does not exist",
      (c) => (c.primaryRole = "job"),
      'berth:primaryRole: unknown role "job"; roles are web',
    ],
    [
      "an empty web role",
      (c) => (c.servers.web = null),
      "berth:servers.web: expected a mapping of keys (key: value lines indented under it), found nothing (an empty value): write the value after the colon, or indent the keys that belong to it under it",
    ],
    [
      "roles without an image",
      (c) => delete c.image,
      "berth:image: required: the image repository the roles run, without tag, such as ghcr.io/acme/app",
    ],
    [
      "an accessory on a role that does not exist",
      (c) => (c.accessories = { redis: { image: "redis:7.4", roles: ["job"] } }),
      'berth:accessories.redis.roles[0]: unknown role "job"; roles are web',
    ],
  ];
  it("accepts a stack of workers only (primary role job, no proxy) and one of hosts without roles", () => {
    const workers = base();
    workers.servers = { job: { hosts: ["db-1"] } };
    const cfg = parseConfig(workers, "x");
    assert.equal(cfg.primaryRole, "job");
    assert.equal(cfg.roles[0].proxy, undefined, "a job role is not behind kamal-proxy unless told");
    const bare = base();
    delete bare.servers;
    delete bare.image;
    delete bare.version;
    assert.deepEqual(parseConfig(bare, "x").roles, []);
  });

  for (const [what, change, expected] of single) {
    it(`answers ${what} with one message`, () => {
      const cfg = base();
      change(cfg);
      assert.deepEqual(
        problemsOf(() => parseConfig(cfg, "x")),
        [expected],
      );
    });
  }

  it("refuses the placeholders berth import writes, naming what to fill in", () => {
    const problems = stagingProblems((t) =>
      t
        .replace('"2026.11.1"', "fill-in-version")
        .replace(
          "zone: example.com\n    hosts: [staging.example.com]",
          "zone: fill-in-dns-zone.invalid\n    hosts: [fill-in-dns-zone.invalid]",
        ),
    );
    assert.deepEqual(
      problems.map((p) => p.split(" that ")[0]),
      [
        "berth:version: still holds the placeholder fill-in-version",
        // Objects reach the program with their keys sorted, as the engine encodes them.
        "berth:dns.hosts[0]: still holds the placeholder fill-in-dns-zone",
        "berth:dns.zone: still holds the placeholder fill-in-dns-zone",
      ],
    );
    assert.match(problems[0], /replace it with the image tag to deploy/);
  });
});

describe("secrets entering the configuration", () => {
  it("refuses plain-text secrets in the stack file with the exact command that encrypts them", () => {
    const problems = problemsOf(() =>
      readStackFile(
        stackFile(
          staging +
            "  berth:secrets:\n    RAILS_MASTER_KEY: 4c0d1e5b0a2f4e6d8c9b7a6f5e4d3c2b\n    KAMAL_REGISTRY_PASSWORD:\n      secure: v1:abc\n  hcloud:token: Xy7pQ2mN9vR4tL8kJ3hG6fD1sA5zC0bV2nM4qW7eR9tY1uI3oP5aS8dF6gH0jK2l\n",
          "prod",
        ),
        () => "x",
      ),
    );
    assert.equal(problems.length, 2);
    // berth:secrets is appended after the example's last line (which ends in a newline); its first key one below.
    const line = staging.split("\n").length + 1;
    assert.match(
      problems[0],
      new RegExp(
        `^Pulumi\\.prod\\.yaml:${line}:5: berth:secrets\\.RAILS_MASTER_KEY is stored in plain text .*\`pulumi config set --secret --path 'berth:secrets\\.RAILS_MASTER_KEY' --stack prod\``,
      ),
    );
    assert.match(
      problems[1],
      /hcloud:token is stored in plain text .*`pulumi config set --secret hcloud:token --stack prod`/,
    );
    for (const p of problems) assert.doesNotMatch(p, /4c0d1e5b|Xy7pQ2mN/, "a message repeats the secret");
  });

  it("refuses a berth:secrets the engine did not mark secret, in the program itself", async () => {
    const file = stackConfig("staging");
    const refused = await runIndex("staging", { config: file.config, secretKeys: [] }).then(
      () => "rendered",
      (err: Error) => err.message,
    );
    assert.match(refused, /berth:secrets\.RAILS_MASTER_KEY: stored in plain text, not as a Pulumi secret/);
    assert.match(refused, /pulumi config set --secret --path 'berth:secrets\.RAILS_MASTER_KEY' --stack staging/);
  });

  // Credential-looking values planted where names belong, and where messages quote config.
  const planted = [
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "AKIAIOSFODNN7EXAMPLE",
    "glpat-Zx9Yw8Vu7Ts6Rq5Po4Nm",
    "4c0d1e5b0a2f4e6d8c9b7a6f5e4d3c2b",
    "sk_live_51HqLyjWDarjtT1zdp7dc",
    // Letters only, but mixed case the way generated keys are (a long lower-case word is a name).
    "xKpQzLmWvNbRtYhGfDsAeJcUiOkPlMnBvCxZaSdF",
  ];
  for (const value of planted) {
    it(`refuses ${value.slice(0, 6)}... pasted as a secret's name and never repeats it`, () => {
      const problems = stagingProblems((t) =>
        t
          .replace("passwordSecret: KAMAL_REGISTRY_PASSWORD", `passwordSecret: ${value}`)
          .replace("      - RAILS_MASTER_KEY", `      - ${value}`)
          .replace(
            "hosts: [staging.example.com]",
            `hosts: [staging.example.com]\n  berth:nope${value.replace(/[^A-Za-z0-9]/g, "")}: 1`,
          ),
      );
      assert.ok(problems.some((p) => p.startsWith("berth:registry.passwordSecret: looks like a credential")));
      assert.ok(problems.some((p) => p.startsWith("berth:env.secret[0]: looks like a credential")));
      for (const p of problems) {
        assert.ok(!p.includes(value), `a message repeats the value: ${p}`);
        assert.ok(!p.includes(value.replace(/[^A-Za-z0-9]/g, "")), `a message repeats the value: ${p}`);
      }
    });
  }
});

describe("topology rules", () => {
  const twoHosts = (over: Record<string, any> = {}): Record<string, any> => ({
    ...minimalConfig("1"),
    hosts: { "web-1": { serverType: "cx23", location: "fsn1" }, "web-2": { serverType: "cx23", location: "nbg1" } },
    servers: { web: { hosts: ["web-1", "web-2"] } },
    ...over,
  });

  it("refuses a Cloudflare API token stored in plain text, with the command that encrypts it", () => {
    const problems = configKeyProblems(
      { "cloudflare:apiToken": "t0ken", "berth:service": "s" },
      "berth",
      () => false,
      "prod",
    );
    assert.deepEqual(problems, [
      "cloudflare:apiToken: stored in plain text, not as a Pulumi secret: store it with `pulumi config set --secret cloudflare:apiToken --stack prod` (it asks for the value)",
    ]);
  });

  it("asks for a choice with several web hosts and no DNS, and refuses a load balancer without Hetzner DNS", () => {
    assert.deepEqual(
      problemsOf(() => parseConfig(twoHosts(), "x")),
      [
        "berth:loadBalancer.enabled: required: the primary role web has 2 hosts; choose how traffic reaches them: true puts a Hetzner load balancer in front (add berth:dns with the zone in Hetzner DNS for its certificate), false lets each host's kamal-proxy answer on its own address (behind Cloudflare: add berth:dns with provider: cloudflare)",
      ],
    );
    const cloudflare = { provider: "cloudflare", zone: "example.com", hosts: ["shop.example.com"] };
    assert.match(
      problemsOf(() => parseConfig(twoHosts({ dns: cloudflare, loadBalancer: { enabled: true } }), "x"))[0],
      /^berth:loadBalancer\.enabled: the load balancer's Let's Encrypt certificate needs the zone in Hetzner DNS, and berth:dns\.provider is cloudflare/,
    );
    // Cloudflare without a load balancer is a complete choice: no question asked.
    assert.equal(parseConfig(twoHosts({ dns: cloudflare }), "x").loadBalancer.enabled, false);
  });

  it("explains TLS behind proxied Cloudflare records: Let's Encrypt on several hosts refused, Flexible warned", () => {
    const dns = { provider: "cloudflare", zone: "example.com", hosts: ["shop.example.com"] };
    assert.match(
      problemsOf(() => parseConfig(twoHosts({ dns, proxy: { ssl: true } }), "x"))[0],
      /^berth:proxy\.ssl: kamal-proxy can only obtain Let's Encrypt certificates for a role on a single host .* ssl: cloudflare-origin/,
    );
    const plain = parseConfig(twoHosts({ dns }), "x");
    assert.match(
      plain.warnings.join("\n"),
      /plain HTTP behind proxied Cloudflare records: set the zone's SSL\/TLS mode to Flexible/,
    );
    const one = twoHosts({ dns, proxy: { ssl: true } });
    one.servers.web.hosts = ["web-1"];
    assert.match(parseConfig(one, "x").warnings.join("\n"), /HTTP challenge must reach the server through Cloudflare/);
    assert.deepEqual(parseConfig(twoHosts({ dns, proxy: { ssl: "cloudflare-origin" } }), "x").warnings, []);
    assert.match(
      problemsOf(() =>
        parseConfig(twoHosts({ loadBalancer: { enabled: false }, proxy: { ssl: "cloudflare-origin" } }), "x"),
      )[0],
      /^berth:proxy\.ssl: a Cloudflare Origin CA certificate is requested through the Cloudflare zone of berth:dns/,
    );
  });

  it("refuses an accessory on the private network of another zone than an app host that needs it", () => {
    const cfg = twoHosts({
      network: { zone: "eu-central" },
      loadBalancer: { enabled: false },
      accessories: { db: { image: "postgres:17", host: "web-1", port: 5432 } },
    });
    cfg.hosts["web-2"].location = "ash";
    assert.match(
      problemsOf(() => parseConfig(cfg, "x"))[0],
      /^berth:accessories\.db\.host: app hosts web-2 \(us-east\) cannot reach it: it is published on the private network of eu-central/,
    );
  });
});
