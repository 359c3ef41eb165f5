// Maintenance windows (berth:deployWindows): `pulumi up` refused outside them unless forced, with
// the reason; previews always run.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { deployRefusal, DeployWindowsConfig } from "../../config/rollout";
import { runIndex, stackConfig } from "../support/harness";

type Change = (c: Record<string, unknown>) => void;
const render = async (change?: Change) => (await runIndex("production", stackConfig("production", change))).resources;

describe("maintenance windows", () => {
  // Tuesday 2026-11-24 at 15:30 UTC, 16:30 in Berlin.
  const tuesday = new Date("2026-11-24T15:30:00Z");
  const windows = (allow: string[], extra: Partial<DeployWindowsConfig> = {}): DeployWindowsConfig => ({
    timezone: "Europe/Berlin",
    allow,
    force: false,
    ...extra,
  });
  const up = { preview: false, env: {}, now: tuesday };

  it("lets pulumi up run inside a window, in the windows' time zone, past midnight too", () => {
    assert.equal(deployRefusal(windows(["mon-fri 09:00-17:00"]), up), undefined);
    assert.equal(deployRefusal(windows(["mon 22:00-17:00"]), up), undefined, "Monday 22:00 to Tuesday 17:00");
    assert.equal(deployRefusal(windows(["daily 16:00-16:45"]), up), undefined);
  });

  it("refuses pulumi up outside every window, with the reason, the next window and how to force", () => {
    const reason = deployRefusal(windows(["mon-thu 09:00-16:00", "sat 10:00-12:00"]), up)!;
    assert.match(
      reason,
      /refused at Tue 16:30 Europe\/Berlin, outside the allowed windows \(mon-thu 09:00-16:00, sat 10:00-12:00\)/,
    );
    assert.match(reason, /next window opens Wed 09:00 Europe\/Berlin/);
    assert.match(reason, /BERTH_FORCE_DEPLOY=1/);
  });

  it("never refuses a preview, a forced stack, or a run with BERTH_FORCE_DEPLOY=1", () => {
    const closed = windows(["sun 01:00-02:00"]);
    assert.ok(deployRefusal(closed, up));
    assert.equal(deployRefusal(closed, { ...up, preview: true }), undefined);
    assert.equal(deployRefusal({ ...closed, force: true }, up), undefined);
    assert.equal(deployRefusal(closed, { ...up, env: { BERTH_FORCE_DEPLOY: "1" } }), undefined);
  });

  it("the program stops before registering anything outside the windows; forcing runs it", async () => {
    const today = new Intl.DateTimeFormat("en-US", { weekday: "short", timeZone: "UTC" }).format(new Date());
    const other = today === "Sun" ? "mon" : "sun";
    const closed: Change = (c) => (c["berth:deployWindows"] = { allow: [`${other} 00:00-24:00`] });
    await assert.rejects(render(closed), /pulumi up refused at .* outside the allowed windows/);
    await render((c) => (c["berth:deployWindows"] = { allow: [`${other} 00:00-24:00`], force: true }));
    await assert.rejects(
      render((c) => (c["berth:deployWindows"] = { allow: ["someday 09:00-17:00"] })),
      /berth:deployWindows.*must be days and a time range/s,
    );
  });
});
