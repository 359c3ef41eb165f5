// `berth plan` on both example stacks: offline (no pulumi), stable, secrets masked, and
// `--diff` against a git revision shows a version bump as exactly the app-level changes.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli } from "../../cli/main";
import { Io } from "../../cli/process";
import { UNKNOWN } from "../../plan/render";
import { PLAN_NOTE, UNKNOWN_MARK } from "../../plan/show";
import { diffRenders, EXAMPLE_SECRETS, ROOT, versionBump } from "../support/harness";

async function berth(cwd: string, ...args: string[]) {
  let out = "";
  let err = "";
  const io: Io = {
    out: (t) => (out += t),
    err: (t) => (err += t),
    // No Pulumi CLI: any attempt to run it fails the command.
    env: { ...process.env, BERTH_PULUMI: "/nonexistent/pulumi", BERTH_STACK: "" },
    cwd,
    confirm: async () => false,
  };
  const code = await runCli(args, io);
  return { code, out, err };
}

const bump = (text: string) => text.replace(/berth:version: "2026\.11\.1"/, 'berth:version: "2026.11.2"');

for (const stack of ["staging", "production"]) {
  describe(`berth plan --stack ${stack}`, () => {
    let json: string;
    before(async () => {
      const r = await berth(ROOT, "plan", "--stack", stack, "--json");
      assert.equal(r.code, 0, r.err);
      json = r.out;
    });

    it("renders the same JSON twice", async () => {
      const again = await berth(ROOT, "plan", "--stack", stack, "--json");
      assert.equal(again.out, json);
    });

    it("masks every secret and says where the real change set comes from", () => {
      const plan = JSON.parse(json);
      assert.match(plan.note, /The real change set comes from `pulumi preview`/);
      assert.deepEqual([...plan.standIns].sort(), [...EXAMPLE_SECRETS[stack]].sort());
      // The stand-in values start with "[secret] berth:"; seeing one means a secret leaked.
      assert.ok(!json.includes("[secret] berth:"), "a secret value appears unmasked");
      const containers = plan.resources.filter((r: any) => r.type === "docker:index/container:Container");
      assert.ok(containers.length > 0);
      const app = containers.find((r: any) => r.name.includes("-web-"));
      assert.ok(app.inputs.envs.includes("[secret]"), "the app's secret env is shown masked");
      assert.ok(plan.resources.some((r: any) => r.type === "hcloud:index/server:Server"));
    });

    it("prints a readable tree with the inputs that matter", async () => {
      const r = await berth(ROOT, "plan", "--stack", stack);
      assert.equal(r.code, 0, r.err);
      const lines = r.out.split("\n");
      assert.match(lines[0], new RegExp(`^berth plan: stack ${stack}, \\d+ resources$`));
      assert.equal(lines[1], PLAN_NOTE);
      assert.ok(lines.includes("berth:app:App myapp"));
      // What the provider computes on create is shown unknown, never as a made-up id or digest.
      assert.ok(lines.some((l) => l === `      image: ${UNKNOWN_MARK}`));
      assert.ok(lines.some((l) => l === `      firewallIds: ["${UNKNOWN_MARK}"]`));
      assert.doesNotMatch(r.out, /sha256:0{8}|firewallIds: \[\d|networkId":\d|"ip":"10\.0\.1\.1\d\d"/);
      assert.ok(!r.out.includes(UNKNOWN), "the runtime's unknown marker leaked");
      assert.match(r.err, /rendered with stand-ins: BERTH_FINGERPRINT_KEY, KAMAL_REGISTRY_PASSWORD, /);
      assert.match(r.err, /with stand-ins it differs from the deployed one/);
      // The render takes seconds: progress on stderr, the plan alone on stdout.
      assert.match(r.err, new RegExp(`^berth: rendering stack ${stack} offline: done in \\d+\\.\\d s$`, "m"));
      assert.ok(!r.out.includes("[secret] berth:"));
    });

    it("prints every script and label list whole with --full", async () => {
      const r = await berth(ROOT, "plan", "--stack", stack, "--full");
      assert.equal(r.code, 0, r.err);
      assert.doesNotMatch(r.out, /chars, sha256 /);
      // A script: `create: |` and its lines below, indented under the key.
      assert.match(r.out, /\n {6}create: \|\n {8}set -eu\n/);
      assert.match(r.out, /\n {6}labels:\n {8}\[\n {10}\{\n {12}"label": "service",\n {12}"value": "myapp"\n/);
      assert.ok(!r.out.includes("[secret] berth:"));
    });
  });
}

describe("berth plan --diff", () => {
  const repo = fs.mkdtempSync(path.join(os.tmpdir(), "berth-plan-diff-"));
  after(() => fs.rmSync(repo, { recursive: true, force: true }));

  before(() => {
    // A repository holding the project as committed, then a working tree that bumps the version.
    for (const entry of [
      "index.ts",
      "config",
      "components",
      "start",
      "Pulumi.yaml",
      "Pulumi.staging.yaml",
      "Pulumi.production.yaml",
      "package.json",
      "tsconfig.json",
    ])
      fs.cpSync(path.join(ROOT, entry), path.join(repo, entry), { recursive: true });
    const git = (...args: string[]) =>
      execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], {
        cwd: repo,
        stdio: "pipe",
      });
    git("init", "-q");
    git("add", ".");
    git("commit", "-qm", "base");
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(repo, "node_modules"), "dir");
    for (const stack of ["staging", "production"]) {
      const file = path.join(repo, `Pulumi.${stack}.yaml`);
      const text = fs.readFileSync(file, "utf8");
      assert.notEqual(bump(text), text, `Pulumi.${stack}.yaml has berth:version "2026.11.1"`);
      fs.writeFileSync(file, bump(text));
    }
  });

  for (const stack of ["staging", "production"]) {
    it(`${stack}: a version bump shows exactly the app-level changes`, async () => {
      const r = await berth(repo, "plan", "--stack", stack, "--diff", "HEAD", "--json");
      assert.equal(r.code, 0, r.err);
      const d = JSON.parse(r.out);
      // The same comparison the stack tests make on the example stacks
      // (see test/components/version-bump.test.ts).
      const bump = await versionBump(stack);
      const expected = diffRenders(bump.before, bump.after);
      // Container names end in a fingerprint keyed by the secrets, which plan stands in for.
      const urns = (rs: { urn: string }[]) => rs.map((x) => x.urn.replace(/-[0-9a-f]{8}$/, "-<fingerprint>")).sort();
      assert.deepEqual(urns(d.created), urns(expected.created));
      assert.deepEqual(urns(d.deleted), urns(expected.deleted));
      assert.deepEqual(urns(d.changed.map((c: any) => c.resource)), urns(expected.changed));
      assert.ok(d.created.length > 0 && d.unchanged > 0);
      for (const x of [...d.created, ...d.deleted, ...d.changed.map((c: any) => c.resource)])
        assert.ok(!x.type.startsWith("hcloud:"), `${x.type} ${x.name}: no infrastructure change`);
      assert.ok(
        d.created.some(
          (x: any) => x.type === "docker:index/container:Container" && /-2026\.11\.2-[0-9a-f]{8}$/.test(x.name),
        ),
      );
      assert.ok(
        d.deleted.some(
          (x: any) => x.type === "docker:index/container:Container" && /-2026\.11\.1-[0-9a-f]{8}$/.test(x.name),
        ),
      );
    });
  }

  it("prints +, - and ~ lines with the changed inputs, and a summary", async () => {
    const r = await berth(repo, "plan", "--stack", "staging", "--diff", "HEAD");
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^berth plan --diff HEAD: stack staging/);
    assert.match(r.out, /^\+ docker:index\/container:Container myapp-web-staging-1-2026\.11\.2-[0-9a-f]{8}$/m);
    assert.match(r.out, /^- docker:index\/container:Container myapp-web-staging-1-2026\.11\.1-[0-9a-f]{8}$/m);
    assert.match(r.out, /^~ command:local:Command myapp-pre-deploy$/m);
    assert.match(r.out, /^ {4}triggers: \["2026\.11\.1","web=([0-9a-f]{8})"\] -> \["2026\.11\.2","web=\1"\]$/m);
    // The switch: its script names the new container's id, unknown until it exists.
    assert.match(r.out, /^~ command:remote:Command myapp-web-staging-1-route$/m);
    assert.match(
      r.out,
      /^ {4}create: \[unknown until deployed\], computed from docker:index\/container:Container myapp-web-staging-1-2026\.11\.2-[0-9a-f]{8}, which this update creates$/m,
    );
    assert.match(r.out, /\n\d+ to create, \d+ to delete, \d+ to change, \d+ unchanged\.\n$/);
  });

  it("tells what to pass when the revision does not exist", async () => {
    const r = await berth(repo, "plan", "--stack", "staging", "--diff", "no-such-branch");
    assert.equal(r.code, 1);
    assert.match(r.err, /"no-such-branch" is not a commit .* pass a branch, tag or commit to --diff/);
  });
});

describe("berth plan and credentials in the stack file", () => {
  // A stack file beside the project's own, as a user's would be; removed after.
  const stack = `credential-check-${process.pid}`;
  const file = path.join(ROOT, `Pulumi.${stack}.yaml`);
  after(() => fs.rmSync(file, { force: true }));
  const staging = fs.readFileSync(path.join(ROOT, "Pulumi.staging.yaml"), "utf8");
  const token = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";

  it("refuses a credential pasted as a secret's name and never prints it", async () => {
    fs.writeFileSync(file, staging.replace("passwordSecret: KAMAL_REGISTRY_PASSWORD", `passwordSecret: ${token}`));
    const r = await berth(ROOT, "plan", "--stack", stack);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /berth:registry\.passwordSecret \(Pulumi\.credential-check-\d+\.yaml:\d+:\d+\): looks like a credential, not the name of one/,
    );
    assert.ok(!(r.out + r.err).includes(token), "the credential was printed");
    assert.ok(!(r.out + r.err).includes(token.slice(4, 20)), "part of the credential was printed");
  });

  it("refuses a plain-text secret with the command that encrypts it, and never prints the value", async () => {
    const value = "4c0d1e5b0a2f4e6d8c9b7a6f5e4d3c2b";
    fs.writeFileSync(file, `${staging}  berth:secrets:\n    RAILS_MASTER_KEY: ${value}\n`);
    const r = await berth(ROOT, "plan", "--stack", stack);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      new RegExp(`pulumi config set --secret --path 'berth:secrets\\.RAILS_MASTER_KEY' --stack ${stack}`),
    );
    assert.ok(!(r.out + r.err).includes(value), "the secret was printed");
  });
});

describe("berth plan of an app stack on a shared server (examples/shared-server)", () => {
  it("renders offline with stand-ins for the server stack's hosts, and says so", async () => {
    // As a user runs it: the example copied beside the project's Pulumi.yaml.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-plan-shop-"));
    try {
      for (const entry of ["Pulumi.yaml", "package.json", "index.ts", "start", "config", "components", "node_modules"])
        fs.symlinkSync(path.join(ROOT, entry), path.join(dir, entry));
      fs.copyFileSync(
        path.join(ROOT, "examples", "shared-server", "Pulumi.shop.yaml"),
        path.join(dir, "Pulumi.shop.yaml"),
      );
      const r = await berth(dir, "plan", "--stack", "shop");
      assert.equal(r.code, 0, r.err);
      assert.match(r.err, /The hosts of server stack apps \(box-1\) are read from its outputs by a real run/);
      assert.match(r.out, /shop-web-box-1-route/);
      assert.doesNotMatch(r.out, /hcloud:index\/server|Server /, "an app stack creates no server");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
