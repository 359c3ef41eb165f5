// `npm run bench`: start-up, scale, deploy path and rollback path of berth, each with its method.
// Figures depend on the machine; docs/performance.md records a run and how to read it.
//   BENCH_ROUNDS=n   start-up rounds per variant (default 7)
//   BENCH_SIZES=1,10 host counts of the scale run (default 1,10,100,300)
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Recorded, ROOT, runIndex, stackConfig } from "../../test/harness";
import { generatedStack } from "./stacks";
import { DeployPath, deployPath, maxStepsPerHost } from "./steps";

interface ProgramRun {
  resources: number;
  lastRegistration: number;
  programStart: number;
  lastRegistered: number;
  maxRss: number;
}

const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
const sizes = (process.env.BENCH_SIZES ?? "1,10,100,300").split(",").map(Number);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-bench-"));
const freshDir = () => fs.mkdtempSync(path.join(tmp, "cache-"));

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const ms = (x: number) => `${x.toFixed(0)} ms`;

/** Runs the program once in a new process; returns its report and the wall time from spawn to last registration. */
function runProgram(
  args: { node?: string[]; loader: string; entry?: string },
  file: { config: Record<string, string>; secretKeys: string[] },
  env: Record<string, string> = {},
): ProgramRun & { wall: number } {
  const spawned = performance.timeOrigin + performance.now();
  const out = execFileSync(
    process.execPath,
    [...(args.node ?? []), "scripts/bench/program.cjs", args.loader, ...(args.entry ? [args.entry] : [])],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        ...env,
        PULUMI_CONFIG: JSON.stringify(file.config),
        PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(file.secretKeys),
      },
      maxBuffer: 1 << 24,
      timeout: 300_000,
    },
  );
  const run = JSON.parse(out.toString()) as ProgramRun;
  return { ...run, wall: run.lastRegistration - spawned };
}

function startup() {
  console.log("\n## 1. Program start-up: process start to last resource registered (production stack, mocks)\n");
  console.log(
    "Each variant runs in a new node process; the wall time runs from spawn to the last registration.\n" +
      "Pulumi's default is reproduced as its language host sets it up (@pulumi/pulumi cmd/run with\n" +
      "PULUMI_NODEJS_TYPESCRIPT=true): its ts-node (vendored 7.0.1) registered with the project's\n" +
      "typescript, type checking on, tsconfig.json compiler options. ts-node caches its output in\n" +
      "$TMPDIR: cold = fresh cache (every CI run), warm = cache from an earlier run of unchanged files.\n" +
      `Variants are interleaved; ${rounds} rounds; median.\n`,
  );
  const file = stackConfig("production");
  const warmTsNode = freshDir();
  const warmBerth = freshDir();
  const variants: { name: string; run: () => ProgramRun & { wall: number } }[] = [
    {
      name: "Pulumi default (ts-node, type check), cold cache",
      run: () => runProgram({ loader: "ts-node" }, file, { TS_NODE_CACHE_DIRECTORY: freshDir() }),
    },
    {
      name: "Pulumi default (ts-node, type check), warm cache",
      run: () => runProgram({ loader: "ts-node" }, file, { TS_NODE_CACHE_DIRECTORY: warmTsNode }),
    },
    {
      name: "nodeargs --import tsx, typescript: false",
      run: () => runProgram({ node: ["--import", "tsx"], loader: "none" }, file),
    },
    {
      name: "berth: start/index.cjs, cold cache",
      run: () => runProgram({ loader: "none", entry: "start/index.cjs" }, file, { BERTH_CACHE_DIR: freshDir() }),
    },
    {
      name: "berth: start/index.cjs, warm cache",
      run: () => runProgram({ loader: "none", entry: "start/index.cjs" }, file, { BERTH_CACHE_DIR: warmBerth }),
    },
  ];
  // Prime the warm caches, and check every variant registers the same resources.
  const counts = new Set(variants.map((v) => v.run().resources));
  if (counts.size !== 1) throw new Error(`variants registered different resource counts: ${[...counts]}`);
  const times = variants.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) variants.forEach((v, i) => times[i].push(v.run().wall));
  const med = times.map(median);
  console.log(`| variant | median | min | max |\n|---|---|---|---|`);
  variants.forEach((v, i) =>
    console.log(`| ${v.name} | ${ms(med[i])} | ${ms(Math.min(...times[i]))} | ${ms(Math.max(...times[i]))} |`),
  );
  const ratio = (a: number, b: number) => `${(med[a] / med[b]).toFixed(1)}x`;
  console.log(`\nresources registered: ${[...counts][0]}`);
  console.log(`ratio default cold / berth cold: ${ratio(0, 3)}`);
  console.log(`ratio default cold / berth warm: ${ratio(0, 4)}`);
  console.log(`ratio default warm / berth warm: ${ratio(1, 4)}`);
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

function scale() {
  console.log("\n## 2. Scale: generated stacks (roles web/job/worker, volumes, boot groups), mocks\n");
  console.log(
    "One new process per run through start/index.cjs (warm cache). Registration time = program start\n" +
      "to last registration; peak memory = the process's maxRSS. Median of 3 runs per size.\n",
  );
  const rows: { hosts: number; resources: number; time: number; rss: number }[] = [];
  for (const hosts of sizes) {
    const file = generatedStack(hosts);
    const runs = [0, 1, 2].map(() => runProgram({ loader: "none", entry: "start/index.cjs" }, file));
    rows.push({
      hosts,
      resources: runs[0].resources,
      time: median(runs.map((r) => r.lastRegistered - r.programStart)),
      rss: median(runs.map((r) => r.maxRss / 1024)),
    });
  }
  console.log("| hosts | resources | registration | per resource | peak RSS |\n|---|---|---|---|---|");
  for (const r of rows)
    console.log(
      `| ${r.hosts} | ${r.resources} | ${ms(r.time)} | ${(r.time / r.resources).toFixed(2)} ms | ${r.rss.toFixed(0)} MB |`,
    );
  if (rows.length >= 2) {
    const [a, b] = [rows[rows.length - 2], rows[rows.length - 1]];
    console.log(
      `\nmarginal cost (${a.hosts} -> ${b.hosts} hosts): ${((b.time - a.time) / (b.resources - a.resources)).toFixed(2)} ms` +
        ` and ${(((b.rss - a.rss) * 1024) / (b.resources - a.resources)).toFixed(0)} kB per resource`,
    );
    const big = rows.filter((r) => r.hosts >= 10);
    const xs = (rs: typeof rows) => rs.map((r) => r.resources);
    console.log(
      `fitted exponent, time over resources (log-log least squares): ${exponent(
        xs(rows),
        rows.map((r) => r.time),
      ).toFixed(2)} all sizes` +
        (big.length >= 2
          ? `, ${exponent(
              xs(big),
              big.map((r) => r.time),
            ).toFixed(2)} from 10 hosts up`
          : ""),
    );
    console.log(
      `fitted exponent, peak RSS over resources: ${exponent(
        xs(rows),
        rows.map((r) => r.rss),
      ).toFixed(2)} all sizes` +
        (big.length >= 2
          ? `, ${exponent(
              xs(big),
              big.map((r) => r.rss - rows[0].rss || 1),
            ).toFixed(2)} above the 1-host baseline from 10 hosts up`
          : ""),
    );
  }
}

function printPath(title: string, p: DeployPath) {
  console.log(`\n### ${title}\n`);
  console.log(`resources created ${p.created}, changed ${p.changed}, deleted ${p.deleted}`);
  console.log(`dependent remote steps per host (longest chain on one host): ${maxStepsPerHost(p)}`);
  for (const [host, h] of Object.entries(p.hosts).slice(0, 4))
    console.log(`  ${host}: ${h.steps.length} remote steps; chain: ${h.chain.join(" -> ")}`);
  if (Object.keys(p.hosts).length > 4) console.log(`  ... ${Object.keys(p.hosts).length - 4} more hosts alike`);
  console.log(`waves of hosts (a wave waits for the one before): ${p.waves.map((w) => w.length).join(" + ")} hosts`);
  console.log(`critical path: ${p.critical.length} remote steps`);
}

async function render(file: { config: Record<string, string>; secretKeys: string[] }): Promise<Recorded[]> {
  return (await runIndex("production", file)).resources;
}

async function deployAndRollback() {
  const bump = (v: string) => (c: Record<string, unknown>) => (c["berth:version"] = v);
  console.log("\n## 3. Deploy path: version bump 2026.11.1 -> 2026.11.2\n");
  console.log(
    "Two renders of the program; the resources whose inputs differ (created or changed) are what\n" +
      "`pulumi up` runs. Remote steps = remote commands and docker resources, placed on a host by their\n" +
      "SSH address or docker provider. A step waits for another when it depends on it, directly or\n" +
      "through other resources (hooks, boot-group waits).",
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
  const g3 = await render(generatedStack(20, bump("2026.11.2")));
  printPath("generated, 20 hosts, rollback", deployPath(g3, g1));
}

async function main() {
  console.log(
    `# berth benchmark\n\nmachine: ${os.cpus().length} CPUs (nproc ${os.availableParallelism()}), ${os.cpus()[0]?.model}, node ${process.version}, ${os.platform()} ${os.release()}`,
  );
  try {
    startup();
    scale();
    await deployAndRollback();
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
