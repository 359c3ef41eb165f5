// Longer than 400 lines: one fleet service started once for the whole file (its start is the slow part), every API case against it.
// The fleet service end to end on the embedded store, through real HTTP: the Automation API
// drives the stand-in pulumi, which renders berth's program under mocks for the blog's stack and
// steps through a fixed set of resources for the others. Flows on different stacks run at once,
// as they would for a team; each flow's own steps run in order.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { Pool } from "pg";
import { GENERIC_ZOD_TEXT } from "../../config/messages";
import { RunningFleet } from "../../fleet/run";
import { nextWindowStart } from "../../fleet/service";
import {
  Client,
  healthServer,
  hostKeyLine,
  PUBLIC_KEY,
  pulumiCli,
  railsDeploy,
  server,
  settle,
  stackSecrets,
  startTestFleet,
  tempProject,
} from "../support/fleet";

const SECRET = "planted-master-key-7f3a9c1e5b";
// Suites inherit their parent's concurrency: each flow's steps run in order.
const SEQUENTIAL = { concurrency: false };

describe("fleet API on the embedded store", () => {
  let dir: string;
  let health: Awaited<ReturnType<typeof healthServer>>;
  let fleet: RunningFleet;
  let admin: Client;
  let deployer: Client;
  let viewer: Client;
  const web1 = server("web-1", "203.0.113.10");

  before(async () => {
    dir = tempProject();
    health = await healthServer();
    fleet = await startTestFleet(dir, health.url, {
      concurrency: 6,
      // berth's program is rendered for blog-staging only, which keeps this file fast.
      env: { BERTH_FAKE_SLOW_MS: "600", BERTH_FAKE_PROGRAM_STACKS: "blog-staging" },
    });
    admin = new Client(fleet.url, fleet.adminToken);
    const [ci, support] = await Promise.all([
      admin.post("/api/tokens", { name: "ci", role: "deployer" }),
      admin.post("/api/tokens", { name: "support", role: "viewer" }),
      admin.post("/api/servers", web1),
      admin.post("/api/servers", server("web-2", "203.0.113.11")),
    ]);
    deployer = new Client(fleet.url, ci.body.token);
    viewer = new Client(fleet.url, support.body.token);
    assert.equal((await viewer.get("/api/servers")).body.length, 2);
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

  it("rejects bad input with the field and the fix, in its own words, before anything is queued", async () => {
    const problemsOf = async (route: string, body: unknown) => {
      const res = await (route.includes("servers") ? admin : deployer).post(route, body);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      for (const p of res.body.problems) assert.doesNotMatch(p, GENERIC_ZOD_TEXT, `zod's wording: ${p}`);
      return res.body.problems as string[];
    };
    const badImage = await problemsOf(
      "/api/deployments",
      railsDeploy("shop", "staging", "v1", {
        variables: { image: "Ghcr.io/Acme Shop", version: "v1", domain: "shop.example.com" },
      }),
    );
    assert.ok(
      badImage.some((p) => p.startsWith("rendered rails config: berth:image: must be an image name")),
      badImage.join("\n"),
    );
    assert.match(
      (await problemsOf("/api/deployments", railsDeploy("shop", "staging", "v1", { servers: ["web-7"] })))[0],
      /^servers\[0\]: unknown server "web-7"; register it first/,
    );
    assert.match(
      (await problemsOf("/api/deployments", railsDeploy("blog", "staging", "v1", { secrets: undefined })))[0],
      /^secrets\.RAILS_MASTER_KEY: required by the rails template/,
    );
    assert.deepEqual(
      (
        await problemsOf("/api/deployments", { ...railsDeploy("shop", "staging", "v1"), app: 5, enviroment: "x" })
      ).sort(),
      ["app: expected a string, found a number", 'enviroment: unknown field; did you mean "environment"?'],
    );
    assert.match(
      (
        await problemsOf(
          "/api/deployments",
          railsDeploy("shop", "staging", "v1", { secrets: { BERTH_FINGERPRINT_KEY: "x".repeat(40) } }),
        )
      )[0],
      /^secrets\.BERTH_FINGERPRINT_KEY: the fleet draws this key itself/,
    );
    assert.match(
      (await problemsOf("/api/servers", server("web-3", "not an address")))[0],
      /^address: must be an IPv4 address/,
    );
    // An existing machine without its host keys: berth's own rule, with how to get them.
    assert.deepEqual(await problemsOf("/api/servers", server("web-3", "203.0.113.30", { hostKeys: [] })), [
      "hostKeys: required for an existing machine, so berth verifies it is talking to this machine instead of trusting the first key it sees: get it with `ssh-keyscan -p 22 -t ed25519 203.0.113.30`, check that its fingerprint (`ssh-keygen -lf <file>`) is the one the machine shows for itself (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on its console), then give the line it prints in hostKeys",
    ]);
    assert.match(
      (await problemsOf("/api/servers", server("web-3", "203.0.113.30", { hostKeys: ["ssh-ed25519 not-a-key"] })))[0],
      /^hostKeys\[0\]: must be an SSH host key as ssh-keyscan prints it/,
    );
    const hz = { name: "hz-9", kind: "hetzner", serverType: "cx23", location: "fsn1", sshPublicKey: PUBLIC_KEY };
    assert.match((await problemsOf("/api/servers", hz))[0], /^hetznerKeyName: required for a Hetzner Cloud server/);
    const { body } = await viewer.get("/api/deployments");
    assert.equal(body.length, 0, "nothing was recorded for rejected requests");
    assert.equal((await viewer.get("/api/servers")).body.length, 2);
  });

  describe("deployment flows, several stacks at once", { concurrency: true }, () => {
    describe("blog: the Rails template through berth's program", SEQUENTIAL, () => {
      it("deploys with engine events, host log lines, the health check and the hosts' keys recorded", async () => {
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
        const messages: string[] = events.map((e: any) => e.message);
        // berth names the app's container after a keyed fingerprint of what it runs.
        assert.ok(
          messages.some((m) => /^create docker:index\/container:Container blog-web-web-1-v1-[0-9a-f]{8}$/.test(m)),
          messages.join("\n"),
        );
        assert.ok(messages.includes("create command:remote:Command blog-web-web-1-route"));
        assert.ok(
          events.some((e: any) => e.kind === "log" && e.message === "blog-web-web-1-route: running on the host"),
        );
        assert.ok(
          messages.some((m) => /^GET http:\/\/127\.0\.0\.1:\d+\/blog\.example\.com\/v1\/up answered 200$/.test(m)),
        );
        // The stack verifies web-1 with the host key it was registered with, and says so in its outputs.
        const key = web1.hostKeys[0].split(" ").slice(1).join(" ");
        assert.deepEqual(done.config.hosts["web-1"].hostKeys, web1.hostKeys);
        assert.equal(done.outputs.knownHosts, `203.0.113.10 ${key}\n`);
        assert.equal(done.outputs.hosts["web-1"].hostKey, key);
        assert.equal(done.outputs.version, "v1");
        // The stack holds its secrets as Pulumi secrets: ciphertext in its settings, never the value.
        const settings = fs.readFileSync(path.join(dir, "project", "Pulumi.blog-staging.yaml"), "utf8");
        assert.match(settings, /RAILS_MASTER_KEY:\n\s+secure: v1:/);
        assert.match(settings, /BERTH_FINGERPRINT_KEY:\n\s+secure: v1:/);
        assert.ok(!settings.includes(SECRET));
      });

      it("runs the program as Pulumi does: a stack file without berth:version keeps the deployed version", async () => {
        // The program reads the version its stack's last update exported through a stack reference
        // to itself; the stand-in engine answers it from the stack's state.
        await pulumiCli(dir, "blog-staging", "config", "rm", "berth:version");
        const up = await pulumiCli(dir, "blog-staging", "up", "--yes", "--skip-preview");
        assert.match(up, /^Resources:\n\s+\d+ unchanged\n$/m, up);
        assert.equal(JSON.parse(await pulumiCli(dir, "blog-staging", "stack", "output", "--json")).version, "v1");
      });
    });

    describe("shop: staging, production, a scheduled deploy and a rollback", SEQUENTIAL, () => {
      let first: any;
      let fingerprintKey: string;
      it("deploys the app's first version, drawing the stack's fingerprint key", async () => {
        const created = await deployer.post(
          "/api/deployments",
          railsDeploy("shop", "staging", "v1", {
            servers: ["web-2"],
            variables: {
              image: "ghcr.io/acme/shop",
              version: "v1",
              domain: "shop.example.com",
              dnsZone: "example.com",
              env: { RAILS_LOG_LEVEL: "info" },
            },
            secrets: { RAILS_MASTER_KEY: SECRET },
          }),
        );
        first = await settle(viewer, created.body.id);
        assert.equal(first.status, "deployed", first.error);
        fingerprintKey = (await stackSecrets(dir, "shop-staging")).BERTH_FINGERPRINT_KEY;
        assert.match(fingerprintKey, /^[0-9a-f]{64}$/);
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
        const early = await deployer.post(
          "/api/deployments",
          railsDeploy("shop", "production", "v9", { servers: ["web-2"] }),
        );
        assert.equal(early.status, 409);
        assert.match(
          early.body.problems[0],
          /production deploys of shop need a successful staging deploy of version v9 first/,
        );
        const ok = await deployer.post(
          "/api/deployments",
          railsDeploy("shop", "production", "v1", { servers: ["web-2"] }),
        );
        assert.equal(ok.status, 201);
        assert.equal((await settle(viewer, ok.body.id)).status, "deployed");
      });

      it("runs a deployment scheduled for a moment later, and not before", async () => {
        const at = new Date(Date.now() + 1000);
        // Without DNS and plain env this time: the stack's berth:dns goes, berth:env changes.
        const created = await deployer.post(
          "/api/deployments",
          railsDeploy("shop", "staging", "v2", {
            servers: ["web-2"],
            variables: { image: "ghcr.io/acme/shop", version: "v2", domain: "shop.example.com" },
            secrets: undefined,
            scheduledAt: at.toISOString(),
          }),
        );
        const done = await settle(viewer, created.body.id);
        assert.equal(done.status, "deployed");
        const settings = fs.readFileSync(path.join(dir, "project", "Pulumi.shop-staging.yaml"), "utf8");
        assert.match(settings, /berth:version: v2\n/);
        assert.doesNotMatch(settings, /berth:dns|RAILS_LOG_LEVEL/);
        assert.ok(
          new Date(done.started_at).getTime() >= at.getTime() - 50,
          `${done.started_at} before ${at.toISOString()}`,
        );
      });

      it("takes a server's new host keys into the next deploy, a rollback included", async () => {
        const reinstalled = hostKeyLine("203.0.113.11");
        const bad = await admin.call("PATCH", "/api/servers/web-2", { hostKeys: ["ssh-rsa AAAA"] });
        assert.equal(bad.status, 400);
        assert.match(bad.body.problems[0], /^hostKeys\[0\]: must be an SSH host key/);
        const patched = await admin.call("PATCH", "/api/servers/web-2", { hostKeys: [reinstalled] });
        assert.equal(patched.status, 200, JSON.stringify(patched.body));
        assert.deepEqual(patched.body.host_keys, [reinstalled]);

        const current = (await viewer.get("/api/deployments?app=shop&environment=staging&status=deployed&limit=1"))
          .body[0];
        assert.equal(current.version, "v2");
        const created = await deployer.post(`/api/deployments/${first.id}/rollback`);
        assert.equal(created.status, 201);
        const done = await settle(viewer, created.body.id);
        assert.equal(done.status, "deployed");
        assert.equal(done.kind, "rollback");
        assert.equal(done.version, "v1");
        assert.deepEqual(done.config.hosts["web-2"].hostKeys, [reinstalled], "the rollback kept today's host keys");
        assert.equal((await viewer.get(`/api/deployments/${current.id}`)).body.status, "rolled_back");
        assert.equal(
          (await stackSecrets(dir, "shop-staging")).BERTH_FINGERPRINT_KEY,
          fingerprintKey,
          "every later deploy kept the stack's fingerprint key",
        );
      });
    });

    describe("crash: a failed update, then an unhealthy version", SEQUENTIAL, () => {
      it("rolls back automatically to the last good deployment when the update fails", async () => {
        const good = await deployer.post("/api/deployments", railsDeploy("crash", "staging", "v1"));
        assert.equal((await settle(viewer, good.body.id)).status, "deployed");
        const created = await deployer.post(
          "/api/deployments",
          railsDeploy("crash", "staging", "v2-fail", { secrets: undefined }),
        );
        const failed = await settle(viewer, created.body.id);
        assert.equal(failed.status, "failed");
        assert.match(failed.error, /update failed/);
        const undo = await autoRollbackOf(viewer, "crash", created.body.id);
        assert.equal(undo.kind, "auto_rollback");
        assert.equal(undo.actor, "fleet (automatic rollback)");
        assert.equal(undo.rollback_of, failed.id);
        assert.equal((await settle(viewer, undo.id)).status, "deployed");
        assert.equal(undo.version, "v1");
      });

      it("rolls back automatically when the health check fails", async () => {
        const created = await deployer.post(
          "/api/deployments",
          railsDeploy("crash", "staging", "v3-sick", { secrets: undefined }),
        );
        const sick = await settle(viewer, created.body.id, (d) => d.status === "rolled_back");
        assert.match(sick.error, /health check failed: GET .*v3-sick\/up answered 503/);
        const undo = await autoRollbackOf(viewer, "crash", created.body.id);
        assert.equal(undo.kind, "auto_rollback");
        assert.equal((await settle(viewer, undo.id)).version, "v1");
      });
    });

    describe("halt: cancelling", SEQUENTIAL, () => {
      it("cancels a running update: the engine is interrupted and the deployment says who cancelled it", async () => {
        const created = await deployer.post("/api/deployments", railsDeploy("halt", "staging", "v1-slow"));
        await settle(viewer, created.body.id, (d) => d.status === "deploying");
        // Wait until the engine has started stepping through resources (a slow version's steps
        // take long enough for the cancel to land even on a busy machine).
        for (let i = 0; i < 600; i++) {
          const events = (await viewer.get(`/api/deployments/${created.body.id}/events`)).body;
          if (events.some((e: any) => e.kind === "step-started")) break;
          await new Promise((r) => setTimeout(r, 50));
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
          railsDeploy("halt", "staging", "v2", { secrets: undefined, scheduledAt: later }),
        );
        assert.equal(created.status, 201);
        assert.equal(new Date(created.body.scheduled_at).toISOString(), later);
        await new Promise((r) => setTimeout(r, 300));
        assert.equal((await viewer.get(`/api/deployments/${created.body.id}`)).body.status, "pending");
        assert.equal((await deployer.post(`/api/deployments/${created.body.id}/cancel`)).status, 202);
        assert.equal((await viewer.get(`/api/deployments/${created.body.id}`)).body.status, "cancelled");
      });
    });

    it("lets only the first app's stack declare a Hetzner server, with the project's SSH key and a replacement", async () => {
      const hz = {
        name: "hz-1",
        kind: "hetzner",
        serverType: "cx23",
        location: "fsn1",
        sshPublicKey: PUBLIC_KEY,
        hetznerKeyName: "deploy",
      };
      assert.equal((await admin.post("/api/servers", hz)).status, 201);
      const noKeys = await admin.call("PATCH", "/api/servers/hz-1", { hostKeys: [hostKeyLine("203.0.113.40")] });
      assert.equal(noKeys.status, 400);
      assert.match(noKeys.body.problems[0], /^hostKeys: only for existing machines/);
      assert.equal((await admin.call("PATCH", "/api/servers/hz-1", { replace: "rebuild" })).status, 200);
      const later = new Date(Date.now() + 3_600_000).toISOString();
      const owner = await deployer.post(
        "/api/deployments",
        railsDeploy("one", "staging", "v1", { servers: ["hz-1"], scheduledAt: later }),
      );
      assert.equal(owner.status, 201, JSON.stringify(owner.body));
      // The stack names the project's key instead of registering the public key a second time.
      assert.equal(owner.body.config.ssh.hetznerKeyName, "deploy");
      assert.deepEqual(owner.body.config.hosts["hz-1"], { serverType: "cx23", location: "fsn1", replace: "rebuild" });
      const other = await deployer.post(
        "/api/deployments",
        railsDeploy("two", "staging", "v1", { servers: ["hz-1"], scheduledAt: later }),
      );
      assert.equal(other.status, 409);
      assert.match(
        other.body.problems[0],
        /^servers\[0\]: Hetzner server hz-1 belongs to stack one-staging, which creates it; stack two-staging would create a second server of its own/,
      );
      assert.equal((await deployer.post(`/api/deployments/${owner.body.id}/cancel`)).status, 202);
    });
  });

  describe("records", SEQUENTIAL, () => {
    it("lists history per server and per app, and records every action with its actor", async () => {
      const perServer = (await viewer.get("/api/deployments?server=web-1")).body;
      const shop = (await viewer.get("/api/deployments?app=shop")).body;
      assert.deepEqual([...new Set(perServer.map((d: any) => d.app))].sort(), ["blog", "crash", "halt"]);
      assert.deepEqual(
        (await viewer.get("/api/deployments?server=web-2")).body.map((d: any) => d.id),
        shop.map((d: any) => d.id),
      );
      const all = (await viewer.get("/api/deployments")).body;
      assert.deepEqual([...new Set(all.map((d: any) => d.status))].sort(), [
        "cancelled",
        "deployed",
        "failed",
        "rolled_back",
      ]);
      const audit = (await admin.get("/api/audit")).body;
      const actions = audit.map((a: any) => `${a.actor} ${a.action}`);
      for (const a of [
        "admin server.register",
        "admin server.update",
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
      const hidden = (await viewer.get("/api/deployments?app=crash&status=failed")).body[0];
      assert.equal((await admin.call("DELETE", `/api/deployments/${hidden.id}`)).status, 204);
      assert.ok(!(await viewer.get("/api/deployments?app=crash")).body.some((d: any) => d.id === hidden.id));
      assert.equal((await viewer.get(`/api/deployments/${hidden.id}`)).body.deleted_by, "admin");
      const pool = new Pool({ connectionString: fleet.fleet.opts.store.connectionString, max: 1 });
      try {
        const { rows } = await pool.query("SELECT deleted_by FROM fleet.servers WHERE name = 'old-1'");
        assert.equal(rows[0].deleted_by, "admin");
      } finally {
        await pool.end();
      }
    });

    it("never stores a secret value, its own fingerprint keys included: not in any table, not in any file", async () => {
      const keys = await Promise.all(
        ["blog-staging", "shop-staging", "crash-staging"].map(
          async (stack) => (await stackSecrets(dir, stack)).BERTH_FINGERPRINT_KEY,
        ),
      );
      assert.equal(new Set(keys).size, 3, "one key per stack");
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
      for (const value of [SECRET, ...keys]) {
        for (const p of [value, Buffer.from(value).toString("base64"), encodeURIComponent(value)])
          assert.ok(!dump.includes(p), "a secret value reached the records");
        await fleet.fleet.flushEvents();
        assert.deepEqual(await grepDir(dir, value), [], "a secret value reached a file");
      }
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
      assert.ok(doc.paths["/api/servers/{name}"].patch.requestBody);
    });
  });
});

/** The automatic rollback the engine starts right after a deployment fails. */
async function autoRollbackOf(client: Client, app: string, failedId: number): Promise<any> {
  for (let i = 0; i < 100; i++) {
    const list = (await client.get(`/api/deployments?app=${app}&environment=staging&limit=5`)).body;
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
