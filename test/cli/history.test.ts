// history, rollback and maintenance against a stand-in `pulumi` (test/fixtures/pulumi.cjs) that
// answers `stack history --json` in Pulumi's shape and records every command berth runs.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, beforeEach, describe, it } from "node:test";
import { parseHistory, rollbackTarget } from "../../cli/history";
import { runCli } from "../../cli/main";
import { Io } from "../../cli/process";
import { STAND_IN_PULUMI as FAKE_PULUMI } from "../support/harness";

/** One update as `pulumi stack history --json` prints it, config included. */
function update(version: number, kind: string, result: string, berthVersion: string, message = "") {
  return {
    version,
    kind,
    startTime: `2026-11-${String(10 + version).padStart(2, "0")}T10:00:00Z`,
    message,
    environment: { "git.head": `c0ffee${version}` },
    config: {
      "berth:service": { value: "myapp", secret: false, object: false },
      "berth:version": { value: berthVersion, secret: false, object: false },
      "berth:secrets": { secret: true, object: true },
    },
    result,
    endTime: `2026-11-${String(10 + version).padStart(2, "0")}T10:01:00Z`,
    resourceChanges: { same: 20, update: 1 },
  };
}

// Pulumi prints the newest first; berth must not depend on that order, so this is shuffled.
const HISTORY = [
  update(3, "preview", "succeeded", "2026.11.9", "preview of an unmerged change"),
  update(6, "refresh", "succeeded", "2026.11.4"),
  update(1, "update", "succeeded", "2026.11.1", "first deploy"),
  update(5, "update", "succeeded", "2026.11.4", "deploy 2026.11.4"),
  update(2, "update", "succeeded", "2026.11.2"),
  update(4, "update", "failed", "2026.11.3", "health check failed"),
];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-cli-history-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const log = path.join(tmp, "argv.log");
const stateFile = path.join(tmp, "state.json");

function state() {
  return JSON.parse(fs.readFileSync(stateFile, "utf8"));
}

function commands(): string[][] {
  return fs.existsSync(log)
    ? fs
        .readFileSync(log, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l))
    : [];
}

async function berth(args: string[], answer = false) {
  let out = "";
  let err = "";
  const questions: string[] = [];
  const io: Io = {
    out: (t) => (out += t),
    err: (t) => (err += t),
    env: { ...process.env, BERTH_PULUMI: FAKE_PULUMI, BERTH_FAKE_LOG: log, BERTH_FAKE_STATE: stateFile },
    cwd: tmp,
    confirm: async (q) => {
      questions.push(q);
      return answer;
    },
  };
  const code = await runCli(args, io);
  return { code, out, err, questions };
}

beforeEach(() => {
  fs.rmSync(log, { force: true });
  fs.writeFileSync(
    stateFile,
    JSON.stringify({ stack: "staging", history: HISTORY, outputs: {}, config: { "berth:version": "2026.11.4" } }),
  );
});

describe("rollback target", () => {
  const history = parseHistory(HISTORY);

  it("is the newest successful deploy of another version, skipping failed updates and previews", () => {
    assert.deepEqual(
      history.map((u) => u.update),
      [6, 5, 4, 3, 2, 1],
    );
    assert.equal(rollbackTarget(history).version, "2026.11.2");
  });

  it("accepts a version or an update number, but only of a successful deploy", () => {
    assert.equal(rollbackTarget(history, "2026.11.1").update, 1);
    assert.equal(rollbackTarget(history, "1").version, "2026.11.1");
    assert.throws(() => rollbackTarget(history, "2026.11.3"), /no successful deploy of version or update "2026.11.3"/);
    assert.throws(() => rollbackTarget(history, "4"), /update #4 is not a successful deploy \(update, failed\)/);
    assert.throws(() => rollbackTarget(history, "3"), /update #3 is not a successful deploy \(preview, succeeded\)/);
    assert.throws(() => rollbackTarget(history, "6"), /update #6 is not a successful deploy \(refresh/);
    assert.throws(() => rollbackTarget(history, "2026.11.9"), /successful deploys: #5 2026.11.4, #2 2026.11.2/);
  });

  it("refuses when every successful deploy ran the current version", () => {
    const same = parseHistory([update(1, "update", "succeeded", "1.0"), update(2, "update", "failed", "1.1")]);
    assert.throws(() => rollbackTarget(same), /every successful deploy used version 1.0/);
    assert.throws(() => rollbackTarget([]), /no successful deploy yet/);
  });
});

describe("berth history", () => {
  it("lists the deploys newest first with result and version, from `pulumi stack history --json`", async () => {
    const r = await berth(["history", "--stack", "staging"]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(commands(), [["stack", "history", "--json", "--stack", "staging"]]);
    const lines = r.out.trim().split("\n");
    assert.match(lines[0], /^UPDATE\s+TIME\s+RESULT\s+VERSION\s+MESSAGE$/);
    assert.deepEqual(
      lines.slice(1).map((l) => l.split(/\s+/).slice(0, 4)),
      [
        ["#5", "2026-11-15T10:00:00Z", "succeeded", "2026.11.4"],
        ["#4", "2026-11-14T10:00:00Z", "failed", "2026.11.3"],
        ["#2", "2026-11-12T10:00:00Z", "succeeded", "2026.11.2"],
        ["#1", "2026-11-11T10:00:00Z", "succeeded", "2026.11.1"],
      ],
    );
  });

  it("uses the selected stack when none is given", async () => {
    const r = await berth(["history", "--json"]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(commands(), [
      ["stack", "--show-name"],
      ["stack", "history", "--json", "--stack", "staging"],
    ]);
    assert.equal(JSON.parse(r.out)[0].version, "2026.11.4");
  });

  it("tells what to do when pulumi is missing or the stack does not exist", async () => {
    let missingErr = "";
    const missing = await runCli(["history", "-s", "staging"], {
      out: () => {},
      err: (t) => (missingErr += t),
      env: { ...process.env, BERTH_PULUMI: path.join(tmp, "no-such-pulumi") },
      cwd: tmp,
      confirm: async () => false,
    });
    assert.equal(missing, 1);
    assert.match(missingErr, /no-such-pulumi: not found\. Install the Pulumi CLI .* or point BERTH_PULUMI at it/);
    const wrong = await berth(["history", "-s", "prod"]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /no stack named 'prod'/);
    assert.match(wrong.err, /berth: `pulumi stack history --json --stack prod` failed/);
  });
});

describe("berth rollback", () => {
  it("sets berth:version to the previous good deploy, previews, then runs pulumi up", async () => {
    const r = await berth(["rollback", "--stack", "staging", "--yes"]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(commands(), [
      ["stack", "history", "--json", "--stack", "staging"],
      ["config", "get", "berth:version", "--path", "--stack", "staging"],
      ["config", "set", "berth:version", "2026.11.2", "--path", "--stack", "staging"],
      ["preview", "--stack", "staging"],
      ["up", "--yes", "--skip-preview", "--stack", "staging", "--message", "berth rollback to 2026.11.2 (update #2)"],
    ]);
    assert.deepEqual(r.questions, [], "--yes asks nothing");
    assert.match(r.out, /Previewing update \(staging\) with berth:version=2026.11.2/);
    assert.match(r.out, /Updating \(staging\) with berth:version=2026.11.2/);
    assert.equal(state().config["berth:version"], "2026.11.2");
  });

  it("asks after the preview; a no deploys nothing and puts the version back", async () => {
    const r = await berth(["rollback", "--stack", "staging", "--to", "1"], false);
    assert.equal(r.code, 1);
    assert.deepEqual(r.questions, ["Deploy this to stack staging?"]);
    assert.deepEqual(commands().slice(2), [
      ["config", "set", "berth:version", "2026.11.1", "--path", "--stack", "staging"],
      ["preview", "--stack", "staging"],
      ["config", "set", "berth:version", "2026.11.4", "--path", "--stack", "staging"],
    ]);
    assert.ok(!commands().some((c) => c[0] === "up"));
    assert.equal(state().config["berth:version"], "2026.11.4");
    assert.match(r.err, /not deployed: nothing changed on stack staging/);
  });

  it("deploys after a yes", async () => {
    const r = await berth(["rollback", "-s", "staging", "--to", "2026.11.1"], true);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(commands().at(-1), [
      "up",
      "--yes",
      "--skip-preview",
      "--stack",
      "staging",
      "--message",
      "berth rollback to 2026.11.1 (update #1)",
    ]);
  });

  it("never rolls back to a failed update or a preview, and changes nothing then", async () => {
    for (const to of ["4", "2026.11.3", "3", "2026.11.9"]) {
      fs.rmSync(log, { force: true });
      const r = await berth(["rollback", "-s", "staging", "--to", to, "--yes"]);
      assert.equal(r.code, 1, to);
      assert.deepEqual(commands(), [["stack", "history", "--json", "--stack", "staging"]], to);
    }
    assert.equal(state().config["berth:version"], "2026.11.4");
  });
});

describe("berth maintenance", () => {
  it("sets berth:maintenance.enabled and deploys it like any change", async () => {
    const r = await berth(["maintenance", "on", "-s", "staging", "-m", "Back at 10", "--yes"]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(commands(), [
      ["config", "get", "berth:maintenance.enabled", "--path", "--stack", "staging"],
      ["config", "get", "berth:maintenance.message", "--path", "--stack", "staging"],
      ["config", "set", "berth:maintenance.enabled", "true", "--path", "--stack", "staging"],
      ["config", "set", "berth:maintenance.message", "Back at 10", "--path", "--stack", "staging"],
      ["preview", "--stack", "staging"],
      ["up", "--yes", "--skip-preview", "--stack", "staging", "--message", "berth maintenance on"],
    ]);
  });

  it("removes what it set when the preview fails", async () => {
    fs.writeFileSync(stateFile, JSON.stringify({ ...state(), previewFails: true }));
    const r = await berth(["maintenance", "off", "-s", "staging", "--yes"]);
    assert.equal(r.code, 255, "pulumi's exit code is passed on");
    assert.deepEqual(commands().slice(-2), [
      ["preview", "--stack", "staging"],
      ["config", "rm", "berth:maintenance.enabled", "--path", "--stack", "staging"],
    ]);
    assert.equal(state().config["berth:maintenance.enabled"], undefined);
  });

  it("accepts only on or off", async () => {
    const r = await berth(["maintenance", "maybe", "-s", "staging"]);
    assert.equal(r.code, 1);
    assert.match(r.err, /maintenance takes "on" or "off", not "maybe"/);
    assert.deepEqual(commands(), []);
  });
});
