// Two fleet workers, each its own process, sharing one real PostgreSQL server: they compete for
// jobs without ever running two updates of one stack at once, an operator's deploy, live progress
// and rollback work across them, and when one is killed mid-update the other marks it interrupted
// (never retried), releases the stack's lock, and the stack's next deploy refreshes first and
// succeeds. Then the same for the embedded store across a restart. The two stores run at once.
import assert from "node:assert/strict";
import { ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { Client, healthServer, railsDeploy, server, settle, startTestFleet, tempProject } from "../support/fleet";
import { Postgres, startPostgres } from "../../fleet/testing/postgres";

interface Worker {
  child: ChildProcess;
  url: string;
  token?: string;
  worker: string;
}

function startWorker(dir: string, health: string, database?: string): Promise<Worker> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", path.join(__dirname, "..", "support", "fleet-child.ts"), dir, health, database ?? ""],
    {
      stdio: ["ignore", "pipe", "inherit"],
      // Its own process group, so a kill takes the worker and its pulumi with it, as a dead machine would.
      detached: true,
      env: { ...process.env, BERTH_FAKE_SLOW_MS: "300" },
    },
  );
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("\n")) resolve({ child, ...JSON.parse(out.split("\n")[0]) });
    });
    child.once("exit", (code) => reject(new Error(`worker exited with ${code}`)));
  });
}

const stop = (w: Worker) =>
  new Promise<void>((r) => {
    if (w.child.exitCode !== null || w.child.signalCode) return r();
    w.child.once("exit", () => r());
    w.child.kill("SIGTERM");
  });

/** Waits until the engine is stepping through resources, i.e. `pulumi up` holds the stack's lock. */
async function midUpdate(client: Client, id: number) {
  for (let i = 0; i < 200; i++) {
    const events = (await client.get(`/api/deployments/${id}/events`)).body;
    if (events.some((e: any) => e.kind === "step-started")) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`deployment ${id} never started its update`);
}

const quick = (app: string, env: string, version: string, secrets = true) => ({
  ...railsDeploy(app, env, version),
  variables: { image: "ghcr.io/acme/shop", version },
  ...(secrets ? {} : { secrets: undefined }),
});

describe("fleet workers", { concurrency: true }, () => {
  describe("on PostgreSQL", { concurrency: false }, () => {
    let pg: Postgres;
    let dir: string;
    let health: Awaited<ReturnType<typeof healthServer>>;
    let a: Worker;
    let b: Worker;
    let token: string;
    let client: Client;

    before(async () => {
      dir = tempProject();
      [pg, health] = await Promise.all([startPostgres(), healthServer()]);
      // Both start at once: one of them creates the first admin token.
      [a, b] = await Promise.all([startWorker(dir, health.url, pg.url), startWorker(dir, health.url, pg.url)]);
      assert.ok(!(a.token && b.token), "only one service made the first admin token");
      token = (a.token ?? b.token)!;
      client = new Client(a.url, token);
      assert.equal((await client.post("/api/servers", server("web-1", "203.0.113.10"))).status, 201);
    });
    after(async () => {
      await Promise.all([a, b].filter(Boolean).map(stop));
      await health?.close();
      await pg?.stop();
    });

    it("shares the queue: both workers run deployments, never two updates of one stack at once", async () => {
      const ids: number[] = [];
      for (let i = 0; i < 8; i++) {
        const res = await client.post("/api/deployments", quick(`app${i % 4}`, "staging", `v${i}`, i < 4));
        assert.equal(res.status, 201, JSON.stringify(res.body));
        ids.push(res.body.id);
      }
      // The other worker's API sees the same records.
      const other = new Client(b.url, token);
      const done = await Promise.all(ids.map((id) => settle(other, id, undefined, 60_000)));
      assert.deepEqual([...new Set(done.map((d) => d.status))], ["deployed"]);
      assert.equal(new Set(done.map((d) => d.worker)).size, 2, "both workers took jobs");
      for (const stack of new Set(done.map((d) => d.stack))) {
        const runs = done.filter((d) => d.stack === stack).sort((x, y) => x.id - y.id);
        for (let i = 1; i < runs.length; i++)
          assert.ok(
            new Date(runs[i].started_at) >= new Date(runs[i - 1].finished_at),
            `${stack}: deployment ${runs[i].id} started before ${runs[i - 1].id} finished`,
          );
      }
    });

    it("deploys the Rails template, shows its progress live on the other worker's API, and rolls it back", async () => {
      const other = new Client(b.url, token);
      const first = await settle(
        other,
        (await client.post("/api/deployments", quick("shop", "staging", "v1"))).body.id,
      );
      assert.equal(first.status, "deployed", first.error);
      const second = await client.post("/api/deployments", quick("shop", "staging", "v2", false));
      const res = await fetch(`${b.url}/api/deployments/${second.body.id}/stream`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const stream = await res.text();
      assert.match(stream, /event: event\ndata: \{[^\n]*"message":"create command:remote:Command shop-web-v2"/);
      assert.match(stream, /event: status\ndata: \{"id":\d+,"status":"deployed"/);
      const back = await other.post(`/api/deployments/${first.id}/rollback`);
      assert.equal(back.status, 201, JSON.stringify(back.body));
      const done = await settle(client, back.body.id);
      assert.equal(done.status, "deployed", done.error);
      assert.equal(done.version, "v1");
      assert.equal((await client.get(`/api/deployments/${second.body.id}`)).body.status, "rolled_back");
    });

    it("recovers an update whose worker was killed: interrupted, not retried, lock released, next deploy refreshes", async () => {
      const res = await client.post("/api/deployments", quick("app0", "staging", "v20-slow"));
      const running = await settle(client, res.body.id, (d) => d.status === "deploying");
      const victim = running.worker === a.worker ? a : b;
      const survivor = victim === a ? b : a;
      await midUpdate(client, res.body.id);
      process.kill(-victim.child.pid!, "SIGKILL");
      const viaSurvivor = new Client(survivor.url, token);
      const failed = await settle(viaSurvivor, res.body.id);
      assert.equal(failed.status, "failed");
      assert.match(failed.error, /^interrupted: worker .* stopped during the update; not retried/);
      let events: string[] = [];
      for (let i = 0; i < 100 && !events.some((m) => /released the stack's lock/.test(m)); i++) {
        await new Promise((r) => setTimeout(r, 100));
        events = (await viaSurvivor.get(`/api/deployments/${failed.id}/events`)).body.map((e: any) => e.message);
      }
      assert.ok(
        events.some((m: string) => /released the stack's lock/.test(m)),
        events.join("\n"),
      );
      // Not retried: it stays failed while the next deploy of the stack runs and succeeds.
      const next = await viaSurvivor.post("/api/deployments", quick("app0", "staging", "v21", false));
      assert.equal(next.status, 201, JSON.stringify(next.body));
      const ok = await settle(viaSurvivor, next.body.id);
      assert.equal(ok.status, "deployed", ok.error);
      const nextEvents = (await viaSurvivor.get(`/api/deployments/${ok.id}/events`)).body.map((e: any) => e.message);
      assert.ok(nextEvents.some((m: string) => /interrupted: refreshing its state first/.test(m)));
      assert.equal((await viaSurvivor.get(`/api/deployments/${failed.id}`)).body.status, "failed");
    });
  });

  describe("on the embedded store across a restart", { concurrency: false }, () => {
    it("marks the update a killed service was running as interrupted when it starts again", async () => {
      const dir = tempProject();
      const health = await healthServer();
      const first = await startWorker(dir, health.url);
      const token = first.token!;
      try {
        const client = new Client(first.url, token);
        assert.equal((await client.post("/api/servers", server("web-1", "203.0.113.10"))).status, 201);
        const res = await client.post("/api/deployments", quick("shop", "staging", "v1-slow"));
        await settle(client, res.body.id, (d) => d.status === "deploying");
        await midUpdate(client, res.body.id);
        process.kill(-first.child.pid!, "SIGKILL");
        await new Promise((r) => first.child.once("exit", r));
        const again = await startTestFleet(dir, health.url);
        try {
          const c = new Client(again.url, token);
          const d = await settle(c, res.body.id, undefined, 10_000);
          assert.equal(d.status, "failed");
          assert.match(d.error, /^interrupted/);
          const next = await c.post("/api/deployments", quick("shop", "staging", "v2", false));
          const ok = await settle(c, next.body.id);
          assert.equal(ok.status, "deployed", ok.error);
          const events = (await c.get(`/api/deployments/${ok.id}/events`)).body.map((e: any) => e.message);
          assert.ok(events.some((m: string) => /interrupted: refreshing its state first/.test(m)));
        } finally {
          await again.close();
        }
      } finally {
        await stop(first);
        await health.close();
      }
    });
  });
});
