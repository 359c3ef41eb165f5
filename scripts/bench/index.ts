// `npm run bench`: start-up and scale of berth measured the way Pulumi runs it, then the deploy
// and rollback paths counted from renders. Figures depend on the machine; docs/performance.md
// records a run and how to read it.
//   BENCH_ROUNDS=n   start-up rounds per variant (default 7)
//   BENCH_SIZES=1,10 host counts of the scale run (default 1,10,100,300)
//   BENCH_RUNS=n     runs per size in the scale run (default 3)
//
// Every timed figure is a whole launcher process: @pulumi/pulumi's cmd/run, started with the
// arguments and environment Pulumi's Node.js language host gives it, connected to a stand-in
// engine in this process (./monitor.ts, ./launch.ts). Wall time runs from spawn to exit.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Recorded, ROOT, runIndex, stackConfig } from "../../test/harness";
import { BERTH, freshDir, launch, LaunchRun, PULUMI_DEFAULT, StackFile, TRANSPILE_ONLY, Variant } from "./launch";
import { startMonitor } from "./monitor";
import { generatedStack } from "./stacks";
import { DeployPath, deployPath, maxStepsPerHost, remoteWork } from "./steps";

const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
const sizes = (process.env.BENCH_SIZES ?? "1,10,100,300").split(",").map(Number);
const runsPerSize = Number(process.env.BENCH_RUNS ?? 3);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-bench-"));

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => {
  const s = sorted(xs);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ms = (x: number) => `${x.toFixed(0)} ms`;
/** min / median / max of a series. */
const spread = (xs: number[], f: (x: number) => string) =>
  `${f(median(xs))} | ${f(Math.min(...xs))} | ${f(Math.max(...xs))}`;

interface StartVariant {
  name: string;
  variant: Variant;
  /** Environment for one run: its caches. */
  env: () => Record<string, string>;
}

async function startup() {
  console.log("\n## 1. Start-up: the production example through Pulumi's launcher\n");
  console.log(
    "Each run is a new launcher process (`pulumi preview` of a deployed stack: --dry-run, every output\n" +
      "known); wall time from spawn to exit. Pulumi's default for a TypeScript project runs ts-node\n" +
      "(type check on) with the project's typescript and tsconfig.json; ts-node caches its output in\n" +
      "$TMPDIR, so a fresh CI runner starts cold (a new cache directory per run) and a developer's\n" +
      "second preview of unchanged files warm. berth's caches are those `npm ci` fills (precompile)\n" +
      `or none (cold). Variants interleaved, one of each per round, ${rounds} rounds after one untimed round.\n`,
  );
  const file = stackConfig("production");
  const warmTsNode = freshDir(tmp);
  const warmTranspile = freshDir(tmp);
  const precompiled = freshDir(tmp);
  execFileSync(process.execPath, ["start/index.cjs", "--precompile"], {
    cwd: ROOT,
    env: { ...process.env, BERTH_CACHE_DIR: precompiled },
  });
  const variants: StartVariant[] = [
    {
      name: "Pulumi default (ts-node, type check), cold cache",
      variant: PULUMI_DEFAULT,
      env: () => ({ TS_NODE_CACHE_DIRECTORY: freshDir(tmp) }),
    },
    {
      name: "Pulumi default (ts-node, type check), warm cache",
      variant: PULUMI_DEFAULT,
      env: () => ({ TS_NODE_CACHE_DIRECTORY: warmTsNode }),
    },
    {
      name: "PULUMI_NODEJS_TRANSPILE_ONLY=true, cold cache",
      variant: TRANSPILE_ONLY,
      env: () => ({ TS_NODE_CACHE_DIRECTORY: freshDir(tmp) }),
    },
    {
      name: "PULUMI_NODEJS_TRANSPILE_ONLY=true, warm cache",
      variant: TRANSPILE_ONLY,
      env: () => ({ TS_NODE_CACHE_DIRECTORY: warmTranspile }),
    },
    { name: "berth (start/index.cjs), no cache", variant: BERTH, env: () => ({ BERTH_CACHE_DIR: freshDir(tmp) }) },
    {
      name: "berth (start/index.cjs), as npm ci leaves it",
      variant: BERTH,
      env: () => ({ BERTH_CACHE_DIR: precompiled }),
    },
  ];
  const monitor = await startMonitor({ project: "berth", stack: "production" });
  const run = (v: StartVariant) => launch(monitor, { stack: "production", file, variant: v.variant, env: v.env() });
  try {
    // The untimed round fills the warm caches and checks every variant registers the same resources.
    const counts = new Set<number>();
    for (const v of variants) counts.add((await run(v)).resources);
    if (counts.size !== 1) throw new Error(`variants registered different resource counts: ${[...counts]}`);
    const runs: LaunchRun[][] = variants.map(() => []);
    for (let r = 0; r < rounds; r++) for (const [i, v] of variants.entries()) runs[i].push(await run(v));

    const berth = runs.length - 1;
    console.log("| variant | wall: median | min | max | last registration (median) | peak RSS (median) |");
    console.log("|---|---|---|---|---|---|");
    variants.forEach((v, i) => {
      const wall = runs[i].map((x) => x.wall);
      console.log(
        `| ${v.name} | ${spread(wall, ms)} | ${ms(median(runs[i].map((x) => x.registered)))} | ` +
          `${(median(runs[i].map((x) => x.peakKb)) / 1024).toFixed(0)} MB |`,
      );
    });
    console.log(`\nresources registered by every variant (the stack resource included): ${[...counts][0]}`);
    console.log("\nRatios, each taken within one round (so a slow moment of the machine hits both sides):\n");
    console.log("| ratio | median | min | max |\n|---|---|---|---|");
    variants.forEach((v, i) => {
      if (i === berth) return;
      const ratios = runs[i].map((x, r) => x.wall / runs[berth][r].wall);
      console.log(`| ${v.name} / berth | ${spread(ratios, (x) => `${x.toFixed(2)}x`)} |`);
    });
  } finally {
    await monitor.close();
  }
}

/** Least-squares slope of log(y) over log(x): the growth exponent. */
function exponent(xs: number[], ys: number[]): number {
  const lx = xs.map(Math.log);
  const ly = ys.map(Math.log);
  const mx = lx.reduce((a, b) => a + b) / lx.length;
  const my = ly.reduce((a, b) => a + b) / ly.length;
  const num = lx.reduce((s, x, i) => s + (x - mx) * (ly[i] - my), 0);
  const den = lx.reduce((s, x) => s + (x - mx) ** 2, 0);
  return num / den;
}

async function scale() {
  console.log("\n## 2. Scale: generated stacks through Pulumi's launcher\n");
  console.log(
    "Roles web/job/worker, a volume on every tenth host, boot groups of 25%, PostGIS and Redis\n" +
      "(scripts/bench/stacks.ts). berth as npm ci leaves it; each run a new launcher process. Wall =\n" +
      "spawn to exit; peak RSS = the launcher's VmHWM when the program signals it is done. Median of\n" +
      `${runsPerSize} runs per size.\n`,
  );
  const cache = freshDir(tmp);
  execFileSync(process.execPath, ["start/index.cjs", "--precompile"], {
    cwd: ROOT,
    env: { ...process.env, BERTH_CACHE_DIR: cache },
  });
  const monitor = await startMonitor({ project: "berth", stack: "production" });
  const rows: { hosts: number; resources: number; wall: number; registered: number; rss: number }[] = [];
  try {
    for (const hosts of sizes) {
      const file: StackFile = generatedStack(hosts);
      const runs: LaunchRun[] = [];
      for (let i = 0; i < runsPerSize; i++)
        runs.push(
          await launch(monitor, { stack: "production", file, variant: BERTH, env: { BERTH_CACHE_DIR: cache } }),
        );
      rows.push({
        hosts,
        resources: runs[0].resources,
        wall: median(runs.map((r) => r.wall)),
        registered: median(runs.map((r) => r.registered)),
        rss: median(runs.map((r) => r.peakKb)),
      });
    }
  } finally {
    await monitor.close();
  }
  console.log(
    "| hosts | resources | wall | last registration | wall per resource | peak RSS |\n|---|---|---|---|---|---|",
  );
  for (const r of rows)
    console.log(
      `| ${r.hosts} | ${r.resources} | ${ms(r.wall)} | ${ms(r.registered)} | ${(r.wall / r.resources).toFixed(2)} ms | ` +
        `${(r.rss / 1024).toFixed(0)} MB |`,
    );
  if (rows.length < 2) return;
  const [a, b] = [rows[rows.length - 2], rows[rows.length - 1]];
  const dr = b.resources - a.resources;
  console.log(
    `\nmarginal cost (${a.hosts} -> ${b.hosts} hosts): ${((b.wall - a.wall) / dr).toFixed(2)} ms and ` +
      `${((b.rss - a.rss) / dr).toFixed(0)} kB of peak memory per resource`,
  );
  const big = rows.filter((r) => r.hosts >= 10);
  const fit = (rs: typeof rows, y: (r: (typeof rows)[number]) => number) =>
    exponent(
      rs.map((r) => r.resources),
      rs.map(y),
    ).toFixed(2);
  console.log(
    `fitted exponent (log-log least squares), wall over resources: ${fit(rows, (r) => r.wall)} all sizes` +
      (big.length >= 2 ? `, ${fit(big, (r) => r.wall)} from 10 hosts up` : ""),
  );
  if (big.length >= 2)
    console.log(
      `fitted exponent, peak RSS above the smallest stack's over resources, from 10 hosts up: ` +
        fit(big, (r) => Math.max(1, r.rss - rows[0].rss)),
    );
}

function printPath(title: string, p: DeployPath) {
  console.log(`\n### ${title}\n`);
  console.log(`resources created ${p.created}, changed ${p.changed}, deleted ${p.deleted}`);
  console.log(`dependent remote steps per host (longest chain on one host): ${maxStepsPerHost(p)}`);
  for (const [host, h] of Object.entries(p.hosts).slice(0, 4)) {
    const work = remoteWork(h);
    console.log(
      `  ${host}: ${h.steps.length} remote steps (${work.sessions} SSH sessions, ${work.commands} remote commands);` +
        ` chain: ${h.chain.join(" -> ")}`,
    );
  }
  if (Object.keys(p.hosts).length > 4) console.log(`  ... ${Object.keys(p.hosts).length - 4} more hosts alike`);
  console.log(`waves of hosts (a wave waits for the one before): ${p.waves.map((w) => w.length).join(" + ")} hosts`);
  console.log(`critical path: ${p.critical.length} dependent remote steps`);
}

async function render(file: StackFile): Promise<Recorded[]> {
  return (await runIndex("production", file)).resources;
}

async function deployAndRollback() {
  const bump = (v: string) => (c: Record<string, unknown>) => (c["berth:version"] = v);
  console.log("\n## 3. Deploy path: version bump 2026.11.1 -> 2026.11.2 (counted, not timed)\n");
  console.log(
    "Two renders of the program in Pulumi's mock runtime; the resources whose inputs differ (created or\n" +
      "changed) are what `pulumi up` runs. Remote steps = remote commands and docker resources, placed on\n" +
      "a host by their SSH address or docker provider. A step waits for another when it depends on it,\n" +
      "directly or through other resources (hooks, boot-group waits). SSH sessions: one per remote\n" +
      "command (pulumi-command connects for each), plus one for the docker provider of a host with docker\n" +
      "steps (one `docker system dial-stdio` connection for all its API calls); remote commands: one\n" +
      "per remote command, plus each docker API operation the provider performs for a step.",
  );
  const v1 = await render(stackConfig("production"));
  const v2 = await render(stackConfig("production", bump("2026.11.2")));
  printPath("production example (boot.limit 1: hosts one at a time)", deployPath(v1, v2));
  const g1 = await render(generatedStack(20));
  const g2 = await render(generatedStack(20, bump("2026.11.2")));
  printPath("generated, 20 hosts, boot.limit 25%", deployPath(g1, g2));

  console.log("\n## 4. Rollback path: 2026.11.2 -> 2026.11.1 (a retained version)\n");
  console.log(
    "Same count from the render of 2026.11.2 back to 2026.11.1. The image step is a RemoteImage with\n" +
      "keepLocally: the pull of 2026.11.2 left the 2026.11.1 image on the host (prune keeps the newest\n" +
      "retainContainers images, default 5), and the docker provider uses a local image it finds instead\n" +
      "of pulling: on rollback the first step is a local image lookup, not a registry pull.",
  );
  printPath("production example, rollback", deployPath(v2, v1));
  printPath("generated, 20 hosts, rollback", deployPath(g2, g1));
}

async function main() {
  console.log(
    `# berth benchmark\n\nmachine: ${os.cpus().length} CPUs (nproc ${os.availableParallelism()}), ${os.cpus()[0]?.model}, ` +
      `node ${process.version}, ${os.platform()} ${os.release()}, load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}`,
  );
  try {
    await startup();
    await scale();
    await deployAndRollback();
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
