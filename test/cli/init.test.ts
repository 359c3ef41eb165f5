// The newcomer's path: `berth init` on a real terminal (a pty from util-linux `script`) against the
// stand-in `pulumi` (test/fixtures/pulumi.cjs), `berth doctor`, `berth up` and `berth preview`
// behind the doctor, and `berth --version`.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { runCli } from "../../cli/main";
import { Io } from "../../cli/process";
import { ROOT, STAND_IN_PULUMI as FAKE_PULUMI } from "../support/harness";

const BIN = path.join(ROOT, "bin", "berth.cjs");
const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A checkout with the staging example, its SSH key taken from a secret, and a fresh stand-in pulumi. */
function checkout(state: Record<string, unknown> = { stacks: [] }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-init-"));
  dirs.push(dir);
  fs.copyFileSync(path.join(ROOT, "Pulumi.yaml"), path.join(dir, "Pulumi.yaml"));
  fs.writeFileSync(
    path.join(dir, "Pulumi.staging.yaml"),
    fs
      .readFileSync(path.join(ROOT, "Pulumi.staging.yaml"), "utf8")
      .replace("  berth:ssh:\n", "  berth:ssh:\n    privateKeySecret: SSH_PRIVATE_KEY\n"),
  );
  fs.writeFileSync(path.join(dir, "state.json"), JSON.stringify(state));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    TERM: "dumb",
    BERTH_PULUMI: FAKE_PULUMI,
    BERTH_FAKE_LOG: path.join(dir, "pulumi.log"),
    BERTH_FAKE_STATE: path.join(dir, "state.json"),
  };
  return { dir, env, log: () => fs.readFileSync(path.join(dir, "pulumi.log"), "utf8") };
}

/**
 * Runs `berth ARGS` on a pseudo-terminal and types each answer once its question is on the
 * screen, as a person would. Resolves with everything the terminal showed and the exit code.
 */
function onTerminal(cwd: string, env: NodeJS.ProcessEnv, args: string[], answers: [RegExp, string][]) {
  const command = ["node", BIN, ...args].map((w) => `'${w}'`).join(" ");
  const child = spawn("script", ["-qfec", command, "/dev/null"], { cwd, env, stdio: ["pipe", "pipe", "pipe"] });
  let screen = "";
  let seen = 0;
  const pending = [...answers];
  child.stdout.on("data", (d: Buffer) => {
    screen += d.toString("utf8");
    while (pending.length > 0) {
      const m = pending[0][0].exec(screen.slice(seen));
      if (!m) break;
      seen += m.index + m[0].length;
      child.stdin.write(`${pending.shift()![1]}\r`);
    }
  });
  return new Promise<{ screen: string; code: number }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`berth ${args.join(" ")} did not finish; the terminal showed:\n${screen}`));
    }, 120_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ screen, code: code ?? 1 });
    });
  });
}

async function berth(cwd: string, env: NodeJS.ProcessEnv, ...args: string[]) {
  let out = "";
  let err = "";
  const io: Io = { out: (t) => (out += t), err: (t) => (err += t), env, cwd, confirm: async () => false };
  const code = await runCli(args, io);
  return { code, out, err };
}

const SECRETS: [RegExp, string][] = [
  [/Passphrase for this stack's secrets[^:]*: $/m, "correct horse battery"],
  [/The same passphrase again: $/m, "correct horse battery"],
  [/Hetzner Cloud API token[^\n]*: $/m, "hcloud-token-5f3e9a1c7b2d4e6f"],
  [/KAMAL_REGISTRY_PASSWORD[^\n]*: $/m, "registry-secret-8d1b"],
  [/LITESTREAM_ACCESS_KEY_ID[^\n]*: $/m, "litestream-id-2c4e"],
  [/LITESTREAM_SECRET_ACCESS_KEY[^\n]*: $/m, "litestream-secret-9f7a"],
  [/RAILS_MASTER_KEY[^\n]*: $/m, "master-key-6b3d"],
  [/SSH_PRIVATE_KEY[^\n]*: $/m, "ssh-private-key-1a2b"],
];

describe(
  "berth init on a terminal",
  { skip: !spawnSync("script", ["--version"]).stdout ? "util-linux script missing" : false },
  () => {
    it("creates the stack with passphrase secrets, asks for each secret hidden, stores them encrypted, and checks", async () => {
      const { dir, env, log } = checkout();
      const { screen, code } = await onTerminal(dir, env, ["init", "staging"], SECRETS);
      assert.equal(code, 0, screen);
      // Hidden input: nothing typed shows on the terminal.
      for (const [, typed] of SECRETS) assert.ok(!screen.includes(typed), `"${typed}" was echoed:\n${screen}`);
      // Never on a command line: pulumi saw each value on its standard input only.
      for (const [, typed] of SECRETS) assert.ok(!log().includes(typed), `"${typed}" was passed as an argument`);
      const calls = log()
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as string[]);
      assert.deepEqual(
        calls.find((c) => c[0] === "stack" && c[1] === "init"),
        ["stack", "init", "staging", "--secrets-provider", "passphrase"],
      );
      assert.ok(
        calls.some((c) => c.join(" ") === "config set --secret --path berth:secrets.RAILS_MASTER_KEY --stack staging"),
      );
      assert.ok(calls.some((c) => c.join(" ") === "config set --secret hcloud:token --stack staging"));
      const stackFile = fs.readFileSync(path.join(dir, "Pulumi.staging.yaml"), "utf8");
      assert.match(stackFile, /^encryptionsalt: /m);
      assert.match(stackFile, /hcloud:token:\n\s+secure: v1:/);
      assert.match(stackFile, /RAILS_MASTER_KEY:\n\s+secure: v1:/);
      // The fingerprint key is drawn, never asked for, and stored the same way.
      assert.match(screen, /^BERTH_FINGERPRINT_KEY: a random key, generated\r?$/m);
      assert.match(stackFile, /BERTH_FINGERPRINT_KEY:\n\s+secure: v1:/);
      // Progress on each long step, then the doctor's verdict.
      assert.match(screen, /berth: creating stack staging \(passphrase secrets\): done in \d+\.\d s/);
      assert.match(screen, /ok {3}Secrets: every secret the stack names is set/);
      assert.match(screen, /export PULUMI_CONFIG_PASSPHRASE=/);
      // The values decrypt with the passphrase chosen, through the stand-in pulumi.
      const got = spawnSync(
        FAKE_PULUMI,
        ["config", "get", "berth:secrets.RAILS_MASTER_KEY", "--path", "--stack", "staging"],
        {
          cwd: dir,
          env: { ...env, PULUMI_CONFIG_PASSPHRASE: "correct horse battery" },
          encoding: "utf8",
        },
      );
      assert.equal(got.stdout, "master-key-6b3d\n");
      const key = spawnSync(
        FAKE_PULUMI,
        ["config", "get", "berth:secrets.BERTH_FINGERPRINT_KEY", "--path", "--stack", "staging"],
        { cwd: dir, env: { ...env, PULUMI_CONFIG_PASSPHRASE: "correct horse battery" }, encoding: "utf8" },
      );
      assert.match(key.stdout, /^[0-9a-f]{64}\n$/);
    });

    it("refuses two different passphrases and creates nothing", async () => {
      const { dir, env, log } = checkout();
      const { screen, code } = await onTerminal(
        dir,
        env,
        ["init", "staging"],
        [
          [/Passphrase for this stack's secrets[^:]*: $/m, "one"],
          [/The same passphrase again: $/m, "two"],
        ],
      );
      assert.equal(code, 1);
      assert.match(screen, /the two passphrases differ; nothing was created/);
      assert.ok(!log().includes('"init"'));
    });
  },
);

/** `berth init staging` with its answers on standard input (no terminal): the token, then each secret. */
function initPiped(cwd: string, env: NodeJS.ProcessEnv) {
  const answers = SECRETS.slice(2).map(([, v]) => v);
  return spawnSync("node", [BIN, "init", "staging"], { cwd, env, input: answers.join("\n"), encoding: "utf8" });
}

describe("berth doctor, up and preview", () => {
  it("names each missing piece with the command that supplies it", async () => {
    const { dir, env } = checkout();
    const missing = await berth(dir, { ...env, BERTH_PULUMI: "/nonexistent/pulumi" }, "doctor", "--stack", "staging");
    assert.equal(missing.code, 1);
    assert.match(missing.out, /^FAIL Pulumi CLI: not found\n {5}fix: install the Pulumi CLI/m);
    const r = await berth(dir, env, "doctor", "--stack", "staging");
    assert.equal(r.code, 1);
    assert.match(r.out, /^ok {3}Pulumi CLI: .* v3\.200\.0$/m);
    assert.match(r.out, /^FAIL Stack: staging does not exist yet\n {5}fix: berth init staging$/m);
    assert.match(r.out, /^FAIL Passphrase: .*\n {5}fix: export PULUMI_CONFIG_PASSPHRASE=/m);
    assert.match(
      r.out,
      /^FAIL Secrets: not set: hcloud:token, berth:secrets\.BERTH_FINGERPRINT_KEY, berth:secrets\.KAMAL_REGISTRY_PASSWORD, .*berth:secrets\.SSH_PRIVATE_KEY\n {5}fix: berth init staging \(asks for each and generates BERTH_FINGERPRINT_KEY\)/m,
    );
    assert.match(r.out, /pulumi config set --secret hcloud:token --stack staging;/);
    // A random key nobody types: the fix draws one.
    assert.ok(
      r.out.includes(
        `openssl rand -hex 32 | pulumi config set --secret --path 'berth:secrets.BERTH_FINGERPRINT_KEY' --stack staging;`,
      ),
      r.out,
    );
    assert.match(r.out, /pulumi config set --secret --path 'berth:secrets\.RAILS_MASTER_KEY' --stack staging;/);
  });

  it("runs pulumi up only after the doctor passes, passing extra arguments on", async () => {
    const { dir, env, log } = checkout({ stacks: [] });
    const refused = await berth(dir, env, "up", "--stack", "staging");
    assert.equal(refused.code, 1);
    assert.match(refused.err, /FAIL Stack: staging does not exist yet/);
    assert.ok(!log().includes('["up"'), "pulumi up ran although the doctor failed");

    // A stack set up by init: every secret stored.
    const ready = checkout({ stacks: [] });
    const passphrase = { ...ready.env, PULUMI_CONFIG_PASSPHRASE: "pw" };
    const piped = initPiped(ready.dir, passphrase);
    assert.equal(piped.status, 0, piped.stderr + piped.stdout);
    for (const verb of ["preview", "up"]) {
      const r = await berth(ready.dir, passphrase, verb, "--stack", "staging", "--", "--diff");
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(JSON.parse(ready.log().trim().split("\n").at(-1)!), [verb, "--stack", "staging", "--diff"]);
    }
  });

  it("takes a stack file without berth:version once the stack runs one, and names the fix before", async () => {
    // A team's stack file: the state keeps the version (README, step 2).
    const ready = checkout({ stacks: [] });
    const passphrase = { ...ready.env, PULUMI_CONFIG_PASSPHRASE: "pw" };
    const file = path.join(ready.dir, "Pulumi.staging.yaml");
    const text = fs.readFileSync(file, "utf8");
    assert.match(text, /^ {2}berth:version: .*\n/m);
    fs.writeFileSync(file, text.replace(/^ {2}berth:version: .*\n/m, ""));
    const piped = initPiped(ready.dir, passphrase);
    // Never deployed: the first deploy must name its version.
    assert.equal(piped.status, 1, piped.stderr + piped.stdout);
    assert.match(piped.stdout, /^ok {3}Configuration: Pulumi\.staging\.yaml is valid$/m);
    assert.match(
      piped.stdout,
      /^FAIL Version: Pulumi\.staging\.yaml names no berth:version, and the stack has not deployed one yet.*\n {5}fix: name the first version to deploy: pulumi config set berth:version <tag or sha256:digest> --stack staging$/m,
    );
    assert.match(piped.stdout, /^ok {3}Secrets: every secret the stack names is set$/m);
    // Once the stack runs a version, the file may leave it out: doctor and berth up agree.
    const state = JSON.parse(fs.readFileSync(ready.env.BERTH_FAKE_STATE!, "utf8"));
    fs.writeFileSync(ready.env.BERTH_FAKE_STATE!, JSON.stringify({ ...state, outputs: { version: "2026.11.4" } }));
    const doctor = await berth(ready.dir, passphrase, "doctor", "--stack", "staging");
    assert.equal(doctor.code, 0, doctor.out + doctor.err);
    assert.match(
      doctor.out,
      /^ok {3}Version: not in Pulumi\.staging\.yaml: the stack runs 2026\.11\.4, which the next update keeps$/m,
    );
    const up = await berth(ready.dir, passphrase, "up", "--stack", "staging");
    assert.equal(up.code, 0, up.err);
    assert.deepEqual(JSON.parse(ready.log().trim().split("\n").at(-1)!), ["up", "--stack", "staging"]);
  });

  it("prints its version and the Pulumi SDK it runs on", () => {
    const r = spawnSync("node", [BIN, "--version"], { encoding: "utf8" });
    const own = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).version;
    assert.equal(r.stdout, `berth ${own} (@pulumi/pulumi 3.248.0)\n`);
  });
});

describe("the README's first screen", () => {
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)![1];
  const commands = firstBlock
    .trim()
    .split("\n")
    .map((l) => l.replace(/\s+#.*$/, "").trim());

  it("is two commands: set-up with berth init, and the test command CI runs", async () => {
    assert.deepEqual(commands, ["npm ci && npx berth init staging", "npm test"]);
    const ci = fs.readFileSync(path.join(ROOT, ".ci", "run"), "utf8");
    assert.match(ci, /^npm test$/m, ".ci/run runs the README's test command");
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
    // The test command installs what it needs first, and closes with a one-line summary.
    assert.match(pkg.scripts.test, /^scripts\/test-setup && /);
    assert.match(pkg.scripts["test:unit"], /--test-reporter=\.\/scripts\/test-summary\.mjs/);
    // `berth init staging` exists and, without the Pulumi CLI, says what to install.
    const { dir, env } = checkout();
    const r = await berth(dir, { ...env, BERTH_PULUMI: "/nonexistent/pulumi" }, "init", "staging");
    assert.equal(r.code, 1);
    assert.equal(r.err, "berth: the Pulumi CLI is not installed: https://www.pulumi.com/docs/iac/download-install/\n");
  });

  it("tells a user without root the one command that installs the test tools, first", () => {
    // A PATH without the tools and a non-root user: test-setup stops before anything else.
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "berth-path-"));
    dirs.push(bin);
    for (const tool of ["bash", "ldd", "env"]) {
      const found = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
      if (found) fs.symlinkSync(found, path.join(bin, tool));
    }
    // A file of its own, never a link: writing through a link to /usr/bin/id would replace the
    // machine's own id.
    fs.writeFileSync(path.join(bin, "id"), "#!/bin/sh\necho 1000\n", { mode: 0o755, flag: "wx" });
    const r = spawnSync(path.join(bin, "bash"), [path.join(ROOT, "scripts", "test-setup")], {
      env: { PATH: bin },
      encoding: "utf8",
    });
    assert.equal(r.status, 1);
    const lines = r.stderr.split("\n");
    assert.equal(lines[0], "npm test needs these Debian packages first; run:");
    assert.match(
      lines[1],
      /^ {2}sudo apt-get update && sudo apt-get install -y --no-install-recommends cloud-init shellcheck /,
    );
    // The loopback host's tools (unshare, mount) are named too, not only the validators.
    assert.match(lines[1], / util-linux mount /);
  });

  it("names every berth command an alias may not replace", async () => {
    const { BUILT_IN_COMMANDS } = await import("../../import/map");
    const { buildProgram } = await import("../../cli/main");
    const program = buildProgram({ out: () => {}, err: () => {}, env: {}, cwd: ROOT, confirm: async () => false });
    for (const c of program.commands.map((c) => c.name())) assert.ok(BUILT_IN_COMMANDS.includes(c), c);
  });
});
