// `npm run bench:profile`: where a launcher run of berth spends its CPU time. Runs the production
// example (or a generated stack: BENCH_HOSTS=300) through Pulumi's launcher as the bench does,
// with node's own --cpu-prof, and sums the profile's self time by who runs it: Node's module
// loader, the Pulumi SDK, gRPC and protobuf, the providers, zod and yaml, berth itself, the
// garbage collector. BENCH_RUNS profiles are merged (default 3).
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ROOT, stackConfig } from "../../plan/examples";
import { BERTH, freshDir, launch } from "../../plan/launch";
import { startMonitor } from "../../plan/monitor";
import { generatedStack } from "../../plan/stacks";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Who runs a frame, from its script's path. */
function owner(url: string, fn: string): string {
  if (fn === "(garbage collector)") return "garbage collector";
  if (fn === "(idle)") return "idle (waiting for the engine)";
  if (fn === "(program)" || fn === "(root)") return "V8 and native (parsing, compiling, natives)";
  if (url.startsWith("node:internal/modules") || url.startsWith("node:internal/fs")) return "Node's module loader";
  if (url.startsWith("node:")) return "Node's other internals (streams, timers, net)";
  const file = url.replace(/^file:\/\//, "");
  const inModules = file.lastIndexOf("node_modules/");
  if (inModules < 0) return file.startsWith(ROOT) ? "berth's own code" : "other";
  const rest = file.slice(inModules + "node_modules/".length);
  const pkg = rest.startsWith("@") ? rest.split("/").slice(0, 2).join("/") : rest.split("/")[0];
  if (pkg === "@pulumi/pulumi") {
    const sub = rest.split("/")[2];
    return `@pulumi/pulumi ${sub === "proto" ? "proto (generated protobuf)" : sub}`;
  }
  if (pkg === "source-map-support" || pkg === "source-map") return "source maps (the launcher's source-map-support)";
  if (pkg === "@grpc/grpc-js" || pkg === "google-protobuf" || pkg === "@grpc/proto-loader") return "gRPC and protobuf";
  if (pkg.startsWith("@pulumi/")) return "providers (@pulumi/hcloud, docker, command, tls)";
  if (pkg === "zod" || pkg === "yaml") return "zod and yaml (config)";
  return `other packages (${pkg})`;
}

async function main() {
  const hosts = Number(process.env.BENCH_HOSTS ?? 0);
  const runs = Number(process.env.BENCH_RUNS ?? 3);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-profile-"));
  const cache = freshDir(tmp);
  execFileSync(process.execPath, ["start/index.cjs", "--precompile"], {
    cwd: ROOT,
    env: { ...process.env, BERTH_CACHE_DIR: cache },
  });
  const file = hosts > 0 ? generatedStack(hosts) : stackConfig("production");
  const monitor = await startMonitor({ project: "berth", stack: "production" });
  const totals = new Map<string, number>();
  const frames = new Map<string, number>();
  let all = 0;
  let wall = 0;
  let resources = 0;
  try {
    for (let i = 0; i < runs; i++) {
      const dir = freshDir(tmp);
      const variant = { ...BERTH, nodeargs: ["--cpu-prof", `--cpu-prof-dir=${dir}`] };
      const run = await launch(monitor, { stack: "production", file, variant, env: { BERTH_CACHE_DIR: cache } });
      wall += run.wall;
      resources = run.resources;
      for (const name of fs.readdirSync(dir)) {
        const profile: Profile = JSON.parse(fs.readFileSync(path.join(dir, name), "utf8"));
        const byId = new Map(profile.nodes.map((n) => [n.id, n]));
        profile.samples.forEach((id, k) => {
          const n = byId.get(id)!;
          const key = owner(n.callFrame.url, n.callFrame.functionName);
          const dt = profile.timeDeltas[k] / 1000;
          totals.set(key, (totals.get(key) ?? 0) + dt);
          const frame = `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.replace(/^.*node_modules\//, "")}`;
          frames.set(frame, (frames.get(frame) ?? 0) + dt);
          all += dt;
        });
      }
    }
  } finally {
    await monitor.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(
    `${hosts > 0 ? `generated stack, ${hosts} hosts` : "production example"}: ${resources} resources, ` +
      `${runs} launcher runs, wall ${(wall / runs).toFixed(0)} ms each (profiling slows it), ` +
      `profiled ${(all / runs).toFixed(0)} ms each\n`,
  );
  console.log("| self time of | ms per run | share |\n|---|---|---|");
  for (const [key, t] of [...totals].sort((a, b) => b[1] - a[1]))
    if (t / all >= 0.005) console.log(`| ${key} | ${(t / runs).toFixed(0)} | ${((100 * t) / all).toFixed(1)}% |`);
  console.log("\n| heaviest functions (self time) | ms per run |\n|---|---|");
  for (const [frame, t] of [...frames].sort((a, b) => b[1] - a[1]).slice(0, 15))
    console.log(`| ${frame.trim()} | ${(t / runs).toFixed(0)} |`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
