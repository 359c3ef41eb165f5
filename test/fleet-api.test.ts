// The fleet service end to end on the embedded store, through real HTTP: the Automation API
// drives the stand-in pulumi, which renders berth's program under mocks for every update.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { Pool } from "pg";
import { RunningFleet } from "../fleet/run";
import { nextWindowStart } from "../fleet/service";
import {
  Client,
  healthServer,
  PUBLIC_KEY,
  railsDeploy,
  server,
  settle,
  startTestFleet,
  tempProject,
} from "./fleet-support";

const SECRET = "planted-master-key-7f3a9c1e5b";

describe("fleet API on the embedded store", () => {
  let dir: string;
  let health: Awaited<ReturnType<typeof healthServer>>;
  let fleet: RunningFleet;
  let admin: Client;
  let deployer: Client;
  let viewer: Client;

  before(async () => {
    dir = tempProject();
    health = await healthServer();
    fleet = await startTestFleet(dir, health.url, {
      env: {
        PULUMI_CONFIG_PASSPHRASE: "fleet-test-passphrase",
        BERTH_FAKE_STEP_MS: "2",
        BERTH_FAKE_SLOW_MS: "150",
        // berth's program is rendered for blog-staging; the other stacks step through a fixed
        // set of resources named like berth's, which keeps this file fast.
        BERTH_FAKE_RENDER: "fixed",
        BERTH_FAKE_PROGRAM_STACKS: "blog-staging",
      },
    });
    admin = new Client(fleet.url, fleet.adminToken);
    deployer = new Client(fleet.url, (await admin.post("/api/tokens", { name: "ci", role: "deployer" })).body.token);
    viewer = new Client(fleet.url, (await admin.post("/api/tokens", { name: "support", role: "viewer" })).body.token);
    assert.equal((await admin.post("/api/servers", server("web-1", "203.0.113.10"))).status, 201);
  });
  after(async () => {
    await fleet?.close();
    await health?.close();
  });

  it("refuses requests without a token, and actions beyond a token's role", async () => {
    const anonymous = new Client(fleet.url);
    assert.equal((await anonymous.get("/api/deployments")).status, 401);
    assert.equal((await viewer.get("/api/deployments")).status, 200);
    const denied = await viewer.post("/api/deployments", railsDeploy("shop", "staging", "v1"));
    assert.equal(denied.status, 403);
    assert.match(denied.body.problems[0], /needs deployer/);
    assert.equal((await deployer.post("/api/servers", server("web-9", "203.0.113.19"))).status, 403);
  });

  it("rejects bad input with the path and the fix, before anything is queued", async () => {
    const badImage = await deployer.post(
      "/api/deployments",
      railsDeploy("shop", "staging", "v1", {
        variables: { image: "Ghcr.io/Acme Shop", version: "v1", domain: "shop.example.com" },
      }),
    );
    assert.equal(badImage.status, 400);
    assert.ok(
      badImage.body.problems.some((p: string) =>
        p.startsWith("rendered rails config: berth:image: must be an image name"),
      ),
      JSON.stringify(badImage.body),
    );
    const unknownServer = await deployer.post(
      "/api/deployments",
      railsDeploy("shop", "staging", "v1", { servers: ["web-7"] }),
    );
    assert.equal(unknownServer.status, 400);
    assert.match(unknownServer.body.problems[0], /^servers\[0\]: unknown server "web-7"; register it first/);
    const noSecret = await deployer.post(
      "/api/deployments",
      railsDeploy("blog", "staging", "v1", { secrets: undefined }),
    );
    assert.equal(noSecret.status, 400);
    assert.match(noSecret.body.problems[0], /^secrets\.RAILS_MASTER_KEY: required by the rails template/);
    const badServer = await admin.post("/api/servers", server("web-2", "not an address"));
    assert.equal(badServer.status, 400);
    assert.match(badServer.body.problems[0], /^address: /);
    const { body } = await viewer.get("/api/deployments");
    assert.equal(body.length, 0, "nothing was recorded for rejected requests");
  });

  it("deploys the Rails template through berth's program, with engine events, host log lines and the health check recorded", async () => {
    const created = await deployer.post(
      "/api/deployments",
      railsDeploy("blog", "staging", "v1", { secrets: { RAILS_MASTER_KEY: SECRET } }),
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.status, "pending");
    const done = await settle(viewer, created.body.id);
    assert.equal(done.status, "deployed", done.error);
    assert.equal(done.actor, "ci");
    assert.ok(done.duration_ms > 0);
    assert.equal(done.update_version, 1);
    const events = (await viewer.get(`/api/deployments/${done.id}/events`)).body;
    const messages = events.map((e: any) => e.message);
    for (const step of [
      "create docker:index/container:Container blog-web-web-1-v1",
      "create command:remote:Command blog-web-web-1-v1-switch",
    ])
      assert.ok(messages.includes(step), `${step} missing from\n${messages.join("\n")}`);
    assert.ok(events.some((e: any) => e.kind === "log" && /running on the host/.test(e.message)));
    assert.ok(
      messages.some((m: string) => /^GET http:\/\/127\.0\.0\.1:\d+\/blog\.example\.com\/v1\/up answered 200$/.test(m)),
    );
    // The stack holds the secret as a Pulumi secret: ciphertext in its settings, never the value.
    const settings = fs.readFileSync(path.join(dir, "project", "Pulumi.blog-staging.yaml"), "utf8");
    assert.match(settings, /RAILS_MASTER_KEY:\n\s+secure: v1:/);
    assert.ok(!settings.includes(SECRET));
  });

  let first: any;
  it("deploys the next app's first version", async () => {
    const created = await deployer.post(
      "/api/deployments",
      railsDeploy("shop", "staging", "v1", { secrets: { RAILS_MASTER_KEY: SECRET } }),
    );
    first = await settle(viewer, created.body.id);
    assert.equal(first.status, "deployed", first.error);
  });

  it("streams live progress as server-sent events", async () => {
    const res = await fetch(`${fleet.url}/api/deployments/${first.id}/stream`, {
      headers: { authorization: `Bearer ${viewer.token}` },
    });
    const text = await res.text();
    assert.match(text, /event: event\ndata: \{"id":\d+,.*"message":"queued by ci"/);
    assert.match(text, /event: status\ndata: \{"id":\d+,"status":"deployed"/);
  });

  it("keeps production behind a successful staging deploy of the same version", async () => {
    const early = await deployer.post("/api/deployments", railsDeploy("shop", "production", "v9"));
    assert.equal(early.status, 409);
    assert.match(
      early.body.problems[0],
      /production deploys of shop need a successful staging deploy of version v9 first/,
    );
    const ok = await deployer.post("/api/deployments", railsDeploy("shop", "production", "v1"));
    assert.equal(ok.status, 201);
    assert.equal((await settle(viewer, ok.body.id)).status, "deployed");
  });

  it("rolls back automatically when the update fails", async () => {
    const created = await deployer.post(
      "/api/deployments",
      railsDeploy("shop", "staging", "v2-fail", { secrets: undefined }),
    );
    const failed = await settle(viewer, created.body.id);
    assert.equal(failed.status, "failed");
    assert.match(failed.error, /update failed/);
    const undo = await autoRollbackOf(viewer, created.body.id);
    assert.equal(undo.kind, "auto_rollback");
    assert.equal(undo.rollback_of, failed.id);
    assert.equal((await settle(viewer, undo.id)).status, "deployed");
    assert.equal(undo.version, "v1");
  });

  it("rolls back automatically when the new version is unhealthy", async () => {
    const created = await deployer.post(
      "/api/deployments",
      railsDeploy("shop", "staging", "v3-sick", { secrets: undefined }),
    );
    const sick = await settle(viewer, created.body.id, (d) => d.status === "rolled_back", 20_000);
    assert.match(sick.error, /health check failed: GET .*v3-sick\/up answered 503/);
    const undo = await autoRollbackOf(viewer, created.body.id);
    assert.equal(undo.kind, "auto_rollback");
    assert.equal((await settle(viewer, undo.id)).version, "v1");
  });

  it("cancels a running update: the engine is interrupted and the deployment says who cancelled it", async () => {
    const created = await deployer.post(
      "/api/deployments",
      railsDeploy("shop", "staging", "v4-slow", { secrets: undefined }),
    );
    await settle(viewer, created.body.id, (d) => d.status === "deploying");
    // Wait until the engine has started stepping through resources.
    for (let i = 0; i < 100; i++) {
      const events = (await viewer.get(`/api/deployments/${created.body.id}/events`)).body;
      if (events.some((e: any) => e.kind === "step-started")) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await deployer.post(`/api/deployments/${created.body.id}/cancel`)).status, 202);
    const cancelled = await settle(viewer, created.body.id);
    assert.equal(cancelled.status, "cancelled");
    assert.match(cancelled.error, /cancelled by ci: .*update canceled/);
    const again = await deployer.post(`/api/deployments/${created.body.id}/cancel`);
    assert.equal(again.status, 409);
  });

  it("cancels a scheduled deployment before it starts", async () => {
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const created = await deployer.post(
      "/api/deployments",
      railsDeploy("shop", "staging", "v5", { secrets: undefined, scheduledAt: later }),
    );
    assert.equal(created.status, 201);
    assert.equal(new Date(created.body.scheduled_at).toISOString(), later);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await viewer.get(`/api/deployments/${created.body.id}`)).body.status, "pending");
    assert.equal((await deployer.post(`/api/deployments/${created.body.id}/cancel`)).status, 202);
    assert.equal((await viewer.get(`/api/deployments/${created.body.id}`)).body.status, "cancelled");
  });

  it("lets only the first app's stack declare a Hetzner server, which that stack creates", async () => {
    const hz = { name: "hz-1", kind: "hetzner", serverType: "cx23", location: "fsn1", sshPublicKey: PUBLIC_KEY };
    assert.equal((await admin.post("/api/servers", hz)).status, 201);
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const owner = await deployer.post(
      "/api/deployments",
      railsDeploy("one", "staging", "v1", { servers: ["hz-1"], scheduledAt: later }),
    );
    assert.equal(owner.status, 201, JSON.stringify(owner.body));
    const other = await deployer.post(
      "/api/deployments",
      railsDeploy("two", "staging", "v1", { servers: ["hz-1"], scheduledAt: later }),
    );
    assert.equal(other.status, 409);
    assert.match(
      other.body.problems[0],
      /^servers\[0\]: Hetzner server hz-1 belongs to stack one-staging, which creates it/,
    );
    assert.equal((await deployer.post(`/api/deployments/${owner.body.id}/cancel`)).status, 202);
  });

  it("runs a deployment scheduled for a moment later, and not before", async () => {
    const at = new Date(Date.now() + 1500);
    const created = await deployer.post(
      "/api/deployments",
      railsDeploy("shop", "staging", "v6", { secrets: undefined, scheduledAt: at.toISOString() }),
    );
    const done = await settle(viewer, created.body.id);
    assert.equal(done.status, "deployed");
    assert.ok(
      new Date(done.started_at).getTime() >= at.getTime() - 50,
      `${done.started_at} before ${at.toISOString()}`,
    );
  });

  it("rolls back on request to an earlier good deployment, marking the one it replaces", async () => {
    const current = (await viewer.get("/api/deployments?app=shop&environment=staging&status=deployed&limit=1")).body[0];
    assert.equal(current.version, "v6");
    const created = await deployer.post(`/api/deployments/${first.id}/rollback`);
    assert.equal(created.status, 201);
    const done = await settle(viewer, created.body.id);
    assert.equal(done.status, "deployed");
    assert.equal(done.kind, "rollback");
    assert.equal(done.version, "v1");
    assert.equal((await viewer.get(`/api/deployments/${current.id}`)).body.status, "rolled_back");
    const cancelled = (await viewer.get("/api/deployments?app=shop&status=cancelled&limit=1")).body[0];
    const refused = await deployer.post(`/api/deployments/${cancelled.id}/rollback`);
    assert.equal(refused.status, 409);
    assert.match(refused.body.problems[0], /never deployed successfully/);
  });

  it("lists history per server and per app, and records every action with its actor", async () => {
    const perServer = (await viewer.get("/api/deployments?server=web-1")).body;
    const perApp = (await viewer.get("/api/deployments?app=shop")).body;
    assert.deepEqual(
      perServer.filter((d: any) => d.app === "shop").map((d: any) => d.id),
      perApp.map((d: any) => d.id),
    );
    assert.ok(perServer.some((d: any) => d.app === "blog"));
    assert.deepEqual([...new Set(perApp.map((d: any) => d.status))].sort(), [
      "cancelled",
      "deployed",
      "failed",
      "rolled_back",
    ]);
    const audit = (await admin.get("/api/audit")).body;
    const actions = audit.map((a: any) => `${a.actor} ${a.action}`);
    for (const a of [
      "admin server.register",
      "ci deployment.create",
      "ci deployment.cancel",
      "ci deployment.rollback",
      "fleet (automatic rollback) deployment.rollback",
    ])
      assert.ok(actions.includes(a), `${a} missing from ${actions.join(", ")}`);
  });

  it("soft-deletes: a removed server or hidden deployment leaves the lists but stays in the records", async () => {
    assert.equal((await admin.post("/api/servers", server("old-1", "203.0.113.50"))).status, 201);
    assert.equal((await admin.call("DELETE", "/api/servers/old-1")).status, 204);
    assert.ok(!(await viewer.get("/api/servers")).body.some((s: any) => s.name === "old-1"));
    assert.equal((await admin.call("DELETE", `/api/deployments/${first.id}`)).status, 204);
    assert.ok(!(await viewer.get("/api/deployments?app=shop")).body.some((d: any) => d.id === first.id));
    assert.equal((await viewer.get(`/api/deployments/${first.id}`)).body.deleted_by, "admin");
    const pool = new Pool({ connectionString: fleet.fleet.opts.store.connectionString, max: 1 });
    try {
      const { rows } = await pool.query("SELECT deleted_by FROM fleet.servers WHERE name = 'old-1'");
      assert.equal(rows[0].deleted_by, "admin");
    } finally {
      await pool.end();
    }
  });

  it("never stores a secret value: not in any table, not in the data directory's files", async () => {
    const pool = new Pool({ connectionString: fleet.fleet.opts.store.connectionString, max: 1 });
    let dump = "";
    try {
      const { rows: tables } = await pool.query(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN ('fleet', 'graphile_worker', 'graphile_worker_private') AND table_type = 'BASE TABLE'",
      );
      assert.ok(tables.length >= 8);
      for (const t of tables) {
        const { rows } = await pool.query(`SELECT * FROM "${t.table_schema}"."${t.table_name}"`);
        dump += JSON.stringify(rows);
      }
    } finally {
      await pool.end();
    }
    assert.ok(dump.includes("RAILS_MASTER_KEY"), "the dump holds the secret's name");
    assert.ok(dump.includes("secure: v1:"), "and the stack settings' ciphertext");
    const planted = [SECRET, Buffer.from(SECRET).toString("base64"), encodeURIComponent(SECRET)];
    for (const p of planted) assert.ok(!dump.includes(p), "a secret value reached the records");
    await fleet.fleet.flushEvents();
    const found = await grepDir(path.join(dir), SECRET);
    assert.deepEqual(found, [], "a secret value reached a file");
  });

  it("computes the next maintenance window from its cron expression (UTC)", () => {
    const next = nextWindowStart({ cron: "0 2 * * 0" }, new Date("2026-05-06T12:00:00Z"));
    assert.equal(next.toISOString(), "2026-05-10T02:00:00.000Z");
  });

  it("describes itself with OpenAPI", async () => {
    const doc = (await new Client(fleet.url).get("/api/openapi.json")).body;
    assert.equal(doc.openapi.slice(0, 2), "3.");
    assert.ok(doc.paths["/api/deployments"].post.requestBody);
    assert.ok(doc.paths["/api/deployments/{id}/rollback"].post);
  });
});

/** The automatic rollback the engine starts right after a deployment fails. */
async function autoRollbackOf(client: Client, failedId: number): Promise<any> {
  for (let i = 0; i < 100; i++) {
    const list = (await client.get("/api/deployments?app=shop&environment=staging&limit=5")).body;
    const found = list.find((d: any) => d.kind === "auto_rollback" && d.rollback_of === failedId);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no automatic rollback of deployment ${failedId}`);
}

/** Files under `dir` containing `needle` (grep -r on raw bytes). */
function grepDir(dir: string, needle: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn("grep", ["-rlaF", "--", needle, dir], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 || code === 1 ? resolve(out.split("\n").filter(Boolean)) : reject(new Error(`grep exit ${code}`)),
    );
  });
}
