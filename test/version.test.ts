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
import { runCli } from "../cli/main";
import { Io } from "../cli/process";
import { byType, diffRenders, ROOT, runIndex, stackConfig } from "./harness";

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
    try {
      await runIndex("staging", stackConfig("staging", withoutVersion));
    } catch (err) {
      error = err as Error;
    }
    assert.ok(error, "the program must not complete");
    assert.equal(error.constructor.name, "RunError");
    assert.equal(error.registered, 0);
    assert.match(error.message, /berth:version: not set, and the stack has no deployed version to keep/);
    assert.match(error.message, /pulumi config set berth:version <tag or sha256:digest>/);
  });

  it("other mistakes are reported before the stack's state is read", async () => {
    let error: Error | undefined;
    try {
      await runIndex(
        "staging",
        stackConfig("staging", (c: any) => {
          delete c["berth:version"];
          c["berth:servers"].web.hosts = ["nowhere-1"];
        }),
        { version: "2026.11.4" },
      );
    } catch (err) {
      error = err as Error;
    }
    assert.match(error?.message ?? "", /berth:servers\.web\.hosts\[0\]: unknown host "nowhere-1"/);
  });
});

describe("berth commands on a stack file without berth:version", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-version-"));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

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
      BERTH_PULUMI: path.join(__dirname, "fixtures", "pulumi.cjs"),
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
