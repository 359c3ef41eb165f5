// Where the deployed version comes from. A stack file without berth:version keeps the version the
// stack runs, read from the stack's own `version` output through a stack reference to itself, so a
// checkout that never set it (a teammate's, a preview's, `berth maintenance`) neither rolls the
// app back nor forward. Under mocks, the stack reference answers with the outputs a test gives as
// the stack's last update; that Pulumi reads them from the backend is only shown by a real run.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { runCli } from "../../cli/main";
import { Io } from "../../cli/process";
import { readStackFile } from "../../config/load";
import {
  byType,
  diffRenders,
  EXAMPLE_SECRETS,
  ROOT,
  runIndex,
  STAND_IN_PULUMI,
  stackConfig,
  testSecret,
} from "../support/harness";

const CONTAINER = "docker:index/container:Container";
const withoutVersion = (c: Record<string, unknown>) => {
  delete c["berth:version"];
};
const versions = (resources: { type: string; name: string }[]) => [
  // App containers: `<app>-<role>-<host>-<version>-<fingerprint>`.
  ...new Set(
    byType(resources as any, CONTAINER).flatMap((r) => /-(\d{4}\.\d+\.\d+)-[0-9a-f]{8}$/.exec(r.name)?.[1] ?? []),
  ),
];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-version-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const staging = fs.readFileSync(path.join(ROOT, "Pulumi.staging.yaml"), "utf8");
const VERSION_LINE = '  berth:version: "2026.11.1"\n';

/**
 * Runs the program as pulumi does: in the project directory, beside the stack file `text` (so
 * problems carry their positions in it), with the example's secrets set.
 */
async function runBeside(text: string, deployed?: Record<string, unknown>) {
  const dir = fs.mkdtempSync(path.join(tmp, "project-"));
  fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: berth\nruntime: nodejs\n");
  fs.writeFileSync(path.join(dir, "Pulumi.staging.yaml"), text);
  const file = readStackFile(path.join(dir, "Pulumi.staging.yaml"), testSecret);
  const secrets = EXAMPLE_SECRETS.staging.map((n) => [n, testSecret(`berth:secrets.${n}`)]);
  file.config["berth:secrets"] = JSON.stringify(Object.fromEntries(secrets));
  file.secretKeys.push("berth:secrets");
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    return await runIndex("staging", file, deployed);
  } finally {
    process.chdir(cwd);
  }
}

describe("berth:version from the stack's state", () => {
  it("a stack file without it renders exactly what naming the deployed version renders", async () => {
    for (const stack of ["staging", "production"]) {
      const kept = await runIndex(stack, stackConfig(stack, withoutVersion), { version: "2026.11.4" });
      const named = await runIndex(
        stack,
        stackConfig(stack, (c) => (c["berth:version"] = "2026.11.4")),
      );
      assert.deepEqual(versions(kept.resources), ["2026.11.4"], stack);
      const d = diffRenders(named.resources, kept.resources);
      assert.deepEqual([d.created.length, d.deleted.length, d.changed.length], [0, 0, 0], stack);
      assert.equal(kept.outputs.version, "2026.11.4", "and exports it again for the next update");
    }
  });

  it("a stack file that names a version deploys that one: a change on purpose is previewed as such", async () => {
    const r = await runIndex("staging", stackConfig("staging"), { version: "2026.11.4" });
    assert.deepEqual(versions(r.resources), ["2026.11.1"]);
    assert.equal(r.outputs.version, "2026.11.1");
  });

  it("before the first deploy, a stack without one stops with the fix and registers nothing", async () => {
    let error: (Error & { registered?: number }) | undefined;
    assert.ok(staging.includes(VERSION_LINE));
    try {
      await runBeside(staging.replace(VERSION_LINE, ""));
    } catch (err) {
      error = err as Error;
    }
    assert.ok(error, "the program must not complete");
    assert.equal(error.constructor.name, "RunError");
    assert.equal(error.registered, 0);
    // The stack file has no berth:version line to point at.
    assert.match(error.message, /- berth:version: not set, and the stack has no deployed version to keep/);
    assert.match(error.message, /pulumi config set berth:version <tag or sha256:digest>/);
  });

  it("other mistakes are reported before the stack's state is read", async () => {
    let error: Error | undefined;
    const text = staging.replace(VERSION_LINE, "").replace("hosts: [staging-1]", "hosts: [nowhere-1]");
    try {
      await runBeside(text, { version: "2026.11.4" });
    } catch (err) {
      error = err as Error;
    }
    const line = text.split("\n").findIndex((l) => l.includes("hosts: [nowhere-1]")) + 1;
    assert.match(
      error?.message ?? "",
      new RegExp(
        `berth:servers\\.web\\.hosts\\[0\\] \\(Pulumi\\.staging\\.yaml:${line}:\\d+\\): unknown host "nowhere-1"`,
      ),
    );
  });
});

describe("berth commands on a stack file without berth:version", () => {
  async function berth(cwd: string, env: Record<string, string>, ...args: string[]) {
    let out = "";
    let err = "";
    const io: Io = {
      out: (t) => (out += t),
      err: (t) => (err += t),
      env: { ...process.env, BERTH_STACK: "", ...env },
      cwd,
      confirm: async () => true,
    };
    return { code: await runCli(args, io), out, err };
  }

  it("berth rollback deploys the target and leaves the stack file as it was: the state keeps the version", async () => {
    const stateFile = path.join(tmp, "state.json");
    const update = (n: number, version: string) => ({
      version: n,
      kind: "update",
      result: "succeeded",
      startTime: `2026-11-1${n}T10:00:00Z`,
      message: "",
      config: { "berth:version": { value: version, secret: false } },
    });
    fs.writeFileSync(
      stateFile,
      JSON.stringify({
        stack: "staging",
        history: [update(1, "2026.11.1"), update(2, "2026.11.4")],
        outputs: { version: "2026.11.4" },
        config: {},
      }),
    );
    const env = {
      BERTH_PULUMI: STAND_IN_PULUMI,
      BERTH_FAKE_STATE: stateFile,
      BERTH_FAKE_LOG: path.join(tmp, "pulumi.log"),
    };
    const r = await berth(tmp, env, "rollback", "--stack", "staging", "--yes");
    assert.equal(r.code, 0, r.err);
    const state = JSON.parse(fs.readFileSync(stateFile, "utf8"));
    assert.equal(state.outputs.version, "2026.11.1", "the update ran with the target version");
    assert.deepEqual(state.config, {}, "and the stack file does not pin it afterwards");
  });

  it("berth plan renders it with a stand-in for the deployed version, and says so", async () => {
    const root = path.join(tmp, "repo");
    fs.mkdirSync(root);
    for (const entry of fs.readdirSync(ROOT))
      if (![".git", "Pulumi.staging.yaml"].includes(entry))
        fs.symlinkSync(path.join(ROOT, entry), path.join(root, entry));
    const file = fs.readFileSync(path.join(ROOT, "Pulumi.staging.yaml"), "utf8");
    fs.writeFileSync(path.join(root, "Pulumi.staging.yaml"), file.replace(/^ {2}berth:version: .*\n/m, ""));
    const r = await berth(root, { BERTH_PULUMI: "/nonexistent/pulumi" }, "plan", "--stack", "staging", "--json");
    assert.equal(r.code, 0, r.err);
    const plan = JSON.parse(r.out);
    assert.equal(plan.versionStandIn, true);
    assert.ok(plan.resources.some((x: any) => x.type === CONTAINER && /-deployed-[0-9a-f]{8}$/.test(x.name)));
    const text = await berth(root, { BERTH_PULUMI: "/nonexistent/pulumi" }, "plan", "--stack", "staging");
    assert.match(text.err, /berth:version is not in the stack file: rendered as "deployed"/);
  });
});
