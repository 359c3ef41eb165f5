// Benchmark of the fleet service around the engine: N deployments queued at once across S stacks,
// run by the stand-in pulumi (fixed resources, no program render), while a client asks for
// deployment status over HTTP. Prints the run's duration, checks that no two updates of one
// stack overlapped (from the stand-in's own update history), and the status queries' latency.
//
//   npm run bench:fleet -- [--deployments 100] [--stacks 20] [--concurrency 4] [--postgres | --database URL]
//
// --postgres starts a throwaway PostgreSQL server from Debian's packages for the run.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { BERTH_ROOT } from "./run";
import { hostKeyLine } from "./testing/keys";
import { startPostgres } from "./testing/postgres";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function main() {
  const total = Number(arg("deployments", "100"));
  const stacks = Number(arg("stacks", "20"));
  const concurrency = Number(arg("concurrency", "4"));
  const pg = process.argv.includes("--postgres") ? await startPostgres() : undefined;
  const database = pg?.url ?? (process.argv.includes("--database") ? arg("database", "") : undefined);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-fleet-bench-"));
  fs.mkdirSync(path.join(dir, "project"));
  fs.copyFileSync(path.join(BERTH_ROOT, "Pulumi.yaml"), path.join(dir, "project", "Pulumi.yaml"));
  // The service runs as `berth fleet serve` in its own process, as it would in use: the figures
  // are what a client sees over HTTP, not shared with this script's own work.
  const serve = spawn(
    process.execPath,
    [
      path.join(BERTH_ROOT, "bin", "berth.cjs"),
      "fleet",
      "serve",
      "--port",
      "0",
      "--data-dir",
      path.join(dir, "data"),
      "--project-dir",
      path.join(dir, "project"),
      "--pulumi-root",
      path.join(BERTH_ROOT, "fleet", "testing"),
      "--backend-url",
      `file://${path.join(dir, "state")}`,
      "--concurrency",
      String(concurrency),
      ...(database ? ["--database", database] : []),
    ],
    {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, PULUMI_CONFIG_PASSPHRASE: "bench", BERTH_FAKE_RENDER: "fixed", BERTH_FAKE_STEP_MS: "20" },
    },
  );
  const fleet = await new Promise<{ url: string; adminToken: string }>((resolve, reject) => {
    let out = "";
    serve.stdout!.on("data", (d) => {
      out += d;
      const url = /on (http:\/\/\S+) /.exec(out)?.[1];
      const token = /shown once: (\S+)/.exec(out)?.[1];
      if (url && token) resolve({ url, adminToken: token });
    });
    serve.once("exit", (code) => reject(new Error(`berth fleet serve exited with ${code}`)));
  });
  const call = async (method: string, route: string, body?: unknown): Promise<any> => {
    const res = await fetch(fleet.url + route, {
      method,
      headers: { authorization: `Bearer ${fleet.adminToken}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchBenchBenchBenchBenchBenchBenchBench00 ops@example.com";
  await call("POST", "/api/servers", {
    name: "web-1",
    kind: "existing",
    address: "203.0.113.10",
    hostKeys: [hostKeyLine("203.0.113.10")],
    sshPublicKey: key,
  });

  const started = Date.now();
  const ids: number[] = [];
  for (let i = 0; i < total; i++) {
    const app = `app${i % stacks}`;
    const d = await call("POST", "/api/deployments", {
      app,
      environment: "staging",
      template: "rails",
      servers: ["web-1"],
      variables: { image: "ghcr.io/acme/app", version: `v${Math.floor(i / stacks) + 1}` },
      ...(i < stacks ? { secrets: { RAILS_MASTER_KEY: "bench-secret-value" } } : {}),
    });
    ids.push(d.id);
  }
  const queued = Date.now() - started;

  // Status queries while the deployments run: one deployment, and the list of running ones.
  const latencies: number[] = [];
  let done = false;
  const poller = (async () => {
    let n = 0;
    while (!done) {
      const t = performance.now();
      if (n++ % 2) await call("GET", `/api/deployments/${ids[n % ids.length]}`);
      else await call("GET", "/api/deployments?status=deploying");
      latencies.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  for (;;) {
    const open = [
      ...(await call("GET", "/api/deployments?status=pending&limit=500")),
      ...(await call("GET", "/api/deployments?status=deploying&limit=500")),
    ];
    if (open.length === 0) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const elapsed = Date.now() - started;
  done = true;
  await poller;
  const all = await call("GET", "/api/deployments?limit=500");
  const byStatus: Record<string, number> = {};
  for (const d of all) byStatus[d.status] = (byStatus[d.status] ?? 0) + 1;

  // Overlap check from the engine's side: each stack's update history in the state backend.
  let overlaps = 0;
  let updates = 0;
  for (let s = 0; s < stacks; s++) {
    const state = JSON.parse(
      fs.readFileSync(path.join(dir, "state", ".pulumi", "stacks", "berth", `app${s}-staging.json`), "utf8"),
    );
    const runs = state.history
      .map((h: any) => [Date.parse(h.startTime), Date.parse(h.endTime)])
      .sort((a: number[], b: number[]) => a[0] - b[0]);
    updates += runs.length;
    for (let i = 1; i < runs.length; i++) if (runs[i][0] < runs[i - 1][1]) overlaps++;
  }
  await new Promise((r) => {
    serve.once("exit", r);
    serve.kill("SIGTERM");
  });
  await pg?.stop();
  latencies.sort((a, b) => a - b);
  const report = {
    store: database ? "postgres" : "embedded",
    deployments: total,
    stacks,
    concurrency,
    statuses: byStatus,
    engineUpdates: updates,
    overlappingUpdatesOfOneStack: overlaps,
    queueAllMs: queued,
    totalMs: elapsed,
    deploymentsPerSecond: Number((total / (elapsed / 1000)).toFixed(2)),
    statusQueries: latencies.length,
    statusMs: {
      p50: Number(percentile(latencies, 50).toFixed(1)),
      p95: Number(percentile(latencies, 95).toFixed(1)),
      p99: Number(percentile(latencies, 99).toFixed(1)),
      max: Number(latencies[latencies.length - 1].toFixed(1)),
    },
  };
  process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  fs.rmSync(dir, { recursive: true, force: true });
  if (overlaps > 0 || byStatus.deployed !== total) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(1);
});
