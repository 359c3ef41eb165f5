// berth rollout status|set|promote|abort and berth up --verify against the stand-in pulumi
// (test/fixtures/pulumi.cjs), which records every command, keeps config and appends each update
// to the stack's history; with `failVerification` it fails an update the way a verify step does.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, beforeEach, describe, it } from "node:test";
import { runCli } from "../../cli/main";
import { Io } from "../../cli/process";
import { STAND_IN_PULUMI as FAKE_PULUMI } from "../support/harness";
import { upWithRollback } from "../../cli/rollout";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-cli-rollout-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const log = path.join(tmp, "argv.log");
const stateFile = path.join(tmp, "state.json");

const state = () => JSON.parse(fs.readFileSync(stateFile, "utf8"));
const commands = (): string[][] =>
  fs
    .readFileSync(log, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));

function io(): Io & { text: () => { out: string; err: string } } {
  let out = "";
  let err = "";
  return {
    out: (t) => (out += t),
    err: (t) => (err += t),
    env: { ...process.env, BERTH_PULUMI: FAKE_PULUMI, BERTH_FAKE_LOG: log, BERTH_FAKE_STATE: stateFile },
    cwd: tmp,
    confirm: async () => true,
    text: () => ({ out, err }),
  };
}

async function berth(...args: string[]) {
  const i = io();
  const code = await runCli(args, i);
  return { code, ...i.text() };
}

const CANARY = {
  version: "2026.11.2",
  strategy: "traffic",
  percent: 5,
  allowlist: ["staff-1"],
  roles: {
    web: {
      service: "myapp-web-production",
      container: "myapp-web-production-2026.11.2-6b7dbe7f",
      hosts: ["web-1", "web-2"],
    },
  },
};

function write(extra: Record<string, unknown> = {}) {
  fs.rmSync(log, { force: true });
  fs.writeFileSync(
    stateFile,
    JSON.stringify({
      stack: "production",
      config: { "berth:canary": "2026.11.2" },
      history: [
        { version: 1, kind: "update", result: "succeeded", config: { "berth:version": { value: "2026.11.1" } } },
      ],
      outputs: { service: "myapp", stack: "production", version: "2026.11.1", hosts: {}, roles: {}, canary: CANARY },
      ...extra,
    }),
  );
}
beforeEach(() => write());

describe("berth rollout", () => {
  it("status: the canary from the stack outputs, and how to promote or abort it", async () => {
    const r = await berth("rollout", "status", "-s", "production");
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /stack production: version 2026.11.1, canary 2026.11.2 \(strategy traffic\)/);
    assert.match(r.out, /5% of requests with a kamal-rollout cookie, and always the cookies staff-1, go to the canary/);
    assert.match(r.out, /web: myapp-web-production-2026.11.2-6b7dbe7f on web-1, web-2 \(myapp-web-production\)/);
    write({
      config: {},
      outputs: { service: "myapp", stack: "production", version: "2026.11.1", hosts: {}, roles: {} },
    });
    const none = await berth("rollout", "status", "-s", "production");
    assert.match(none.out, /no canary running/);
  });

  it("set: records the share in berth:rollout.percent and deploys it, as one update of the history", async () => {
    const r = await berth("rollout", "set", "25", "-s", "production", "--yes");
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(commands().at(-3), [
      "config",
      "set",
      "berth:rollout.percent",
      "25",
      "--path",
      "--stack",
      "production",
    ]);
    assert.deepEqual(commands().at(-1), [
      "up",
      "--yes",
      "--skip-preview",
      "--stack",
      "production",
      "--message",
      "berth rollout set 25% to 2026.11.2",
    ]);
    assert.equal(state().outputs.canary.percent, 25);
    assert.equal((await berth("rollout", "set", "150", "-s", "production")).code, 1);
  });

  it("promote: the canary becomes berth:version and berth:canary goes, in one update", async () => {
    const r = await berth("rollout", "promote", "-s", "production", "--yes");
    assert.equal(r.code, 0, r.err);
    assert.ok(commands().some((c) => c.join(" ") === "config rm berth:canary --path --stack production"));
    const s = state();
    assert.equal(s.outputs.version, "2026.11.2");
    assert.equal(s.outputs.canary, null);
    assert.equal(s.history.at(-1).message, "berth rollout promote 2026.11.2");
    // The version stays in the state, not in a stack file that did not name it.
    assert.equal(s.config["berth:version"], undefined);
    assert.equal(s.config["berth:canary"], undefined);
  });

  it("abort: berth:canary goes and the version stays", async () => {
    const r = await berth("rollout", "abort", "-s", "production", "--yes");
    assert.equal(r.code, 0, r.err);
    const s = state();
    assert.equal(s.outputs.version, "2026.11.1");
    assert.equal(s.outputs.canary, null);
    assert.equal(s.history.at(-1).message, "berth rollout abort 2026.11.2");
  });

  it("refuses set, promote and abort when no canary runs, naming how to start one", async () => {
    write({
      config: {},
      outputs: { service: "myapp", stack: "production", version: "2026.11.1", hosts: {}, roles: {} },
    });
    for (const verb of [["set", "10"], ["promote"], ["abort"]]) {
      const r = await berth("rollout", ...verb, "-s", "production", "--yes");
      assert.equal(r.code, 1);
      assert.match(r.err, /runs no canary.*pulumi config set berth:canary/);
    }
    assert.ok(!commands().some((c) => c[0] === "up"));
  });
});

describe("berth up --verify", () => {
  it("a failed verification rolls back to the last good update; the history shows both", async () => {
    write({ config: { "berth:version": "2026.11.2" }, failVerification: ["2026.11.2"] });
    const i = io();
    await assert.rejects(
      upWithRollback(i, "production", [], true),
      /failed its verification; stack production is back on version 2026.11.1/,
    );
    const s = state();
    assert.deepEqual(
      s.history.map((u: { result: string; config: Record<string, { value: string }> }) => [
        u.result,
        u.config["berth:version"].value,
      ]),
      [
        ["succeeded", "2026.11.1"],
        ["failed", "2026.11.2"],
        ["succeeded", "2026.11.1"],
      ],
    );
    assert.match(s.history.at(-1).message, /berth rollback to 2026.11.1 \(update #1\) after a failed verification/);
    assert.equal(s.outputs.version, "2026.11.1");
    assert.match(i.text().err, /Verification failed: rolling stack production back to version 2026.11.1/);
  });

  it("without --verify or berth:verify.rollback, a failed verification only fails", async () => {
    write({ config: { "berth:version": "2026.11.2" }, failVerification: ["2026.11.2"] });
    await assert.rejects(upWithRollback(io(), "production", [], false), /pulumi up failed/);
    assert.equal(state().history.length, 2);
    write({
      config: { "berth:version": "2026.11.2", "berth:verify.rollback": "true" },
      failVerification: ["2026.11.2"],
    });
    await assert.rejects(upWithRollback(io(), "production", [], false), /back on version 2026.11.1/);
    assert.equal(state().history.length, 3);
  });

  it("a failed canary verification removes the canary and keeps the version", async () => {
    write({ failVerification: ["2026.11.2"] });
    await assert.rejects(upWithRollback(io(), "production", [], true), /back on version 2026.11.1/);
    const s = state();
    assert.equal(s.config["berth:canary"], undefined);
    assert.equal(s.history.at(-1).result, "succeeded");
    assert.equal(s.outputs.canary, null);
  });
});
