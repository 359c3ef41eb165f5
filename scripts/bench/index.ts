// `npm run bench`: start-up and scale of berth measured the way Pulumi runs it, then the deploy
// and rollback paths counted from renders. Figures depend on the machine; docs/performance.md
// records a run and how to read it.
//   BENCH_ROUNDS=n   start-up rounds per variant (default 7)
//   BENCH_SIZES=1,10 host counts of the scale run (default 1,10,100,300)
//   BENCH_RUNS=n     runs per size in the scale run (default 3)
//   BENCH_PARTS=startup,scale,paths   which parts to run (default all three)
//
// Every timed figure is a whole launcher process: @pulumi/pulumi's cmd/run, started with the
// arguments and environment Pulumi's Node.js language host gives it, connected to a stand-in
// engine in this process (plan/monitor.ts, plan/launch.ts). Wall time runs from spawn to exit.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DeployPath, deployPath, maxStepsPerHost, remoteWork } from "../../guard/steps";
import { ROOT, runIndex, stackConfig } from "../../plan/examples";
import {
  BERTH,
  freshDir,
  launch,
  LaunchRun,
  PULUMI_DEFAULT,
  StackFile,
  TRANSPILE_ONLY,
  Variant,
} from "../../plan/launch";
import { startMonitor } from "../../plan/monitor";
import { Recorded } from "../../plan/render";
import { generatedStack } from "../../plan/stacks";
import { kamalCount } from "./kamal";

const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
const sizes = (process.env.BENCH_SIZES ?? "1,10,100,300").split(",").map(Number);
const runsPerSize = Number(process.env.BENCH_RUNS ?? 3);
const parts = (process.env.BENCH_PARTS ?? "startup,scale,paths").split(",");
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
    console.log(
      "| variant | wall: median | min | max | stack registered (median) | last registration (median) | CPU (median) | peak RSS (median) |",
    );
    console.log("|---|---|---|---|---|---|---|---|");
    variants.forEach((v, i) => {
      const wall = runs[i].map((x) => x.wall);
      const at = (f: (x: LaunchRun) => number) => ms(median(runs[i].map(f)));
      console.log(
        `| ${v.name} | ${spread(wall, ms)} | ${at((x) => x.stackRegistered)} | ${at((x) => x.registered)} | ` +
          `${at((x) => x.cpuMs)} | ` +
          `${(median(runs[i].map((x) => x.peakKb)) / 1024).toFixed(0)} MB |`,
      );
    });
    console.log(
      "\nstack registered: the launcher registers the stack resource before it loads the program, so\n" +
        "this is node's start, the launcher, the SDK it loads and the engine connection; the rest is the\n" +
        "program (its modules and registrations) and the launcher's wait for the last outputs.",
    );
    console.log(`\nresources registered by every variant (the stack resource included): ${[...counts][0]}`);
    console.log("\nRatios, each taken within one round (so a slow moment of the machine hits both sides):\n");
    console.log("| ratio | wall: median | min | max | CPU medians |\n|---|---|---|---|---|");
    const cpu = (i: number) => median(runs[i].map((x) => x.cpuMs));
    variants.forEach((v, i) => {
      if (i === berth) return;
      const ratios = runs[i].map((x, r) => x.wall / runs[berth][r].wall);
      console.log(
        `| ${v.name} / berth | ${spread(ratios, (x) => `${x.toFixed(2)}x`)} | ${(cpu(i) / cpu(berth)).toFixed(1)}x |`,
      );
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
      "(plan/stacks.ts). berth as npm ci leaves it; each run a new launcher process. Wall =\n" +
      "spawn to exit; CPU = the launcher's user + system time and peak RSS its VmHWM, both when the\n" +
      `program signals it is done. Sizes interleaved; median of ${runsPerSize} runs per size.\n`,
  );
  const cache = freshDir(tmp);
  execFileSync(process.execPath, ["start/index.cjs", "--precompile"], {
    cwd: ROOT,
    env: { ...process.env, BERTH_CACHE_DIR: cache },
  });
  const monitor = await startMonitor({ project: "berth", stack: "production" });
  const rows: { hosts: number; resources: number; wall: number; registered: number; cpu: number; rss: number }[] = [];
  try {
    // Sizes interleaved, one run of each per round, so a busy moment of the machine is shared.
    const files: StackFile[] = sizes.map((hosts) => generatedStack(hosts));
    const runs: LaunchRun[][] = sizes.map(() => []);
    for (let i = 0; i < runsPerSize; i++)
      for (const [k, file] of files.entries())
        runs[k].push(
          await launch(monitor, { stack: "production", file, variant: BERTH, env: { BERTH_CACHE_DIR: cache } }),
        );
    sizes.forEach((hosts, k) =>
      rows.push({
        hosts,
        resources: runs[k][0].resources,
        wall: median(runs[k].map((r) => r.wall)),
        registered: median(runs[k].map((r) => r.registered)),
        cpu: median(runs[k].map((r) => r.cpuMs)),
        rss: median(runs[k].map((r) => r.peakKb)),
      }),
    );
  } finally {
    await monitor.close();
  }
  console.log(
    "| hosts | resources | wall | last registration | CPU | wall per resource | peak RSS |\n|---|---|---|---|---|---|---|",
  );
  for (const r of rows)
    console.log(
      `| ${r.hosts} | ${r.resources} | ${ms(r.wall)} | ${ms(r.registered)} | ${ms(r.cpu)} | ` +
        `${(r.wall / r.resources).toFixed(2)} ms | ${(r.rss / 1024).toFixed(0)} MB |`,
    );
  if (rows.length < 2) return;
  const [a, b] = [rows[rows.length - 2], rows[rows.length - 1]];
  const dr = b.resources - a.resources;
  console.log(
    `\nmarginal cost (${a.hosts} -> ${b.hosts} hosts): ${((b.wall - a.wall) / dr).toFixed(2)} ms and ` +
      `${((b.rss - a.rss) / dr).toFixed(0)} kB of peak memory per resource; ${((b.cpu - a.cpu) / dr).toFixed(2)} ms of ` +
      `CPU per resource`,
  );
  const big = rows.filter((r) => r.hosts >= 10);
  const fit = (rs: typeof rows, y: (r: (typeof rows)[number]) => number) =>
    exponent(
      rs.map((r) => r.resources),
      rs.map(y),
    ).toFixed(2);
  console.log(
    `fitted exponent (log-log least squares), wall over resources: ${fit(rows, (r) => r.wall)} all sizes` +
      (big.length >= 2 ? `, ${fit(big, (r) => r.wall)} from 10 hosts up` : "") +
      `; CPU over resources: ${fit(rows, (r) => r.cpu)} all sizes` +
      (big.length >= 2 ? `, ${fit(big, (r) => r.cpu)} from 10 hosts up` : ""),
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

interface Render {
  resources: Recorded[];
  /** App hosts in the order the roles list them, each with its roles' kamal-proxy flag. */
  hosts: Map<string, boolean[]>;
  bootLimit: number | string | undefined;
}

async function render(file: StackFile): Promise<Render> {
  const result = await runIndex("production", file);
  const hosts = new Map<string, boolean[]>();
  const roles = result.outputs.roles as Record<string, { hosts: string[]; proxied: boolean }>;
  // Proxied roles first, as Kamal boots its primary role first.
  for (const role of Object.values(roles).sort((a, b) => Number(b.proxied) - Number(a.proxied)))
    for (const h of role.hosts) hosts.set(h, [...(hosts.get(h) ?? []), role.proxied]);
  const boot = file.config["berth:boot"] ? JSON.parse(file.config["berth:boot"]) : {};
  return { resources: result.resources, hosts, bootLimit: boot.limit };
}

/** berth beside Kamal 2 in the same units: per web host, and on the critical path. */
function printKamal(title: string, before: Render, after: Render, kind: "deploy" | "rollback") {
  const p = deployPath(before.resources, after.resources);
  const web = [...after.hosts].find(([, roles]) => roles.includes(true))?.[0];
  const host = web && p.hosts[web];
  if (!host) throw new Error(`no proxied host among ${Object.keys(p.hosts).join(", ")}`);
  const work = remoteWork(host);
  const kamal = kamalCount(kind, [...after.hosts.values()], after.bootLimit);
  console.log(`\n### ${title}: berth ${kind} beside Kamal 2's, per web host (${web})\n`);
  console.log(`| | berth | Kamal 2 |\n|---|---|---|`);
  console.log(`| SSH sessions | ${work.sessions} | 1 |`);
  console.log(
    `| remote commands | ${work.commands} | ${kamal.perWebHost} (${kamal.perWebHost - kamal.uploads} command lines, ` +
      `${kamal.uploads} file upload) |`,
  );
  console.log(`| dependent round trips on the host | ${host.chain.length} | ${kamal.perWebHost} |`);
  console.log(
    `| critical path, ${after.hosts.size} app hosts, boot.limit ${after.bootLimit ?? "none"} | ` +
      `${p.critical.length} | ${kamal.critical} |`,
  );
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
  printPath("production example (boot.limit 1: hosts one at a time)", deployPath(v1.resources, v2.resources));
  const g1 = await render(generatedStack(20));
  const g2 = await render(generatedStack(20, bump("2026.11.2")));
  printPath("generated, 20 hosts, boot.limit 25%", deployPath(g1.resources, g2.resources));

  console.log("\n## 4. Rollback path: 2026.11.2 -> 2026.11.1 (a retained version)\n");
  console.log(
    "Same count from the render of 2026.11.2 back to 2026.11.1. The image step is a RemoteImage with\n" +
      "keepLocally: the pull of 2026.11.2 left the 2026.11.1 image on the host (prune keeps the newest\n" +
      "retainContainers images, default 5), and the docker provider uses a local image it finds instead\n" +
      "of pulling: on rollback the first step is a local image lookup, not a registry pull.",
  );
  printPath("production example, rollback", deployPath(v2.resources, v1.resources));
  printPath("generated, 20 hosts, rollback", deployPath(g2.resources, g1.resources));

  console.log("\n## 5. Beside Kamal 2\n");
  console.log(
    "berth: counted above from the renders. Kamal 2: counted from its source (scripts/bench/kamal.ts):\n" +
      "every command it runs on a host over its one SSH connection per host, the primary's lock left out\n" +
      "of the per-host count; its critical path runs each phase on all hosts at once and the boot group\n" +
      "after group, so it adds one boot per group. Dependent round trips: Kamal runs a host's commands\n" +
      "one after another; berth's only as its dependency graph orders them.",
  );
  printKamal("production example", v1, v2, "deploy");
  printKamal("production example", v2, v1, "rollback");
  printKamal("generated, 20 hosts", g1, g2, "deploy");
  printKamal("generated, 20 hosts", g2, g1, "rollback");
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
    if (parts.includes("startup")) await startup();
    if (parts.includes("scale")) await scale();
    if (parts.includes("paths")) await deployAndRollback();
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
