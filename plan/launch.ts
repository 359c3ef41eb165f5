// Starts berth the way `pulumi preview` / `pulumi up` does: a new node process running
// @pulumi/pulumi's launcher (cmd/run) with the arguments and environment the Node.js language
// host gives it (pulumi/pulumi sdk/nodejs/cmd/pulumi-language-nodejs/main.go, execRuntime and
// constructArguments), connected to the stand-in engine of ./monitor.ts. The bench
// (scripts/bench) and test/start/entry.test.ts start berth through it.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { ROOT } from "./examples";
import { Monitor } from "./monitor";

export const LAUNCHER = require.resolve("@pulumi/pulumi/cmd/run/index.js");
/** `pulumi up`'s default --parallel: unbounded (math.MaxInt32). */
const PARALLEL = "2147483647";

/** How a project asks Pulumi to start its program. */
export interface Variant {
  name: string;
  /** The entry point the language host passes: Pulumi.yaml `main`, or "." (package.json main). */
  entry: string;
  /** What the runtime options put in the launcher's environment. */
  env: Record<string, string>;
  /** Runtime option `nodeargs`: arguments to node before the launcher's. */
  nodeargs?: string[];
}

/** Pulumi's default for a TypeScript project (`typescript: true`): ts-node with type checking. */
export const PULUMI_DEFAULT: Variant = {
  name: "Pulumi default",
  entry: ".",
  env: { PULUMI_NODEJS_TYPESCRIPT: "true" },
};
/** The same with one setting: ts-node without type checking. */
export const TRANSPILE_ONLY: Variant = {
  name: "Pulumi transpile-only",
  entry: ".",
  env: { PULUMI_NODEJS_TYPESCRIPT: "true", PULUMI_NODEJS_TRANSPILE_ONLY: "true" },
};
/** berth's Pulumi.yaml: `main: start/index.cjs`, `typescript: false`. */
export const BERTH: Variant = { name: "berth", entry: "start/index.cjs", env: {} };

export interface StackFile {
  config: Record<string, string>;
  secretKeys: string[];
}

/** The environment the language host gives the launcher (besides its own). */
export function launcherEnv(file: StackFile, variant: Variant, extra: Record<string, string> = {}) {
  const env: Record<string, string | undefined> = { ...process.env };
  // A loader of the bench's own process must not leak into the program's.
  delete env.NODE_OPTIONS;
  // The language host hands config keys over as <namespace>:config:<name> (constructConfig).
  const config = Object.fromEntries(
    Object.entries(file.config).map(([k, v]) => {
      const at = k.indexOf(":");
      return [`${k.slice(0, at)}:config:${k.slice(at + 1)}`, v];
    }),
  );
  return {
    ...env,
    PULUMI_CONFIG: JSON.stringify(config),
    PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(file.secretKeys),
    ...variant.env,
    ...extra,
  };
}

/** The launcher's command line, as constructArguments builds it. */
export function launcherArgs(monitor: string, stack: string, entry: string, dryRun: boolean, root = ROOT): string[] {
  return [
    LAUNCHER,
    ...["--monitor", monitor, "--engine", monitor, "--organization", "organization", "--project", "berth"],
    ...["--root-directory", root, "--stack", stack, "--pwd", root],
    ...(dryRun ? ["--dry-run"] : []),
    ...["--parallel", PARALLEL, entry],
  ];
}

export interface LaunchRun {
  /** Spawn to exit, ms. */
  wall: number;
  /**
   * Spawn to the stack resource's registration, ms: the launcher registers it before it loads
   * the program, so this is node's start, the launcher and the SDK it loads, the engine connection.
   */
  stackRegistered: number;
  /** Spawn to the last resource registered, ms. */
  registered: number;
  resources: number;
  /** Peak resident memory of the launcher process, kB (VmHWM when the program signalled shutdown). */
  peakKb: number;
  /**
   * CPU time of the launcher process (user + system, all its threads), ms, when the program
   * signalled shutdown: unlike wall time, it hardly moves when other work shares the machine.
   */
  cpuMs: number;
  /** The stack's outputs. */
  outputs: Record<string, unknown>;
}

/** Peak resident set of a running process, kB (Linux /proc). */
function peakRss(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** CPU time a running process has used, user + system, ms (Linux /proc, clock ticks of 10 ms). */
function cpuTime(pid: number): number {
  try {
    // The fields after the command name, which is in parentheses and may hold spaces.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

/** Runs the program once through the launcher; rejects with its errors if it fails. */
export function launch(
  monitor: Monitor,
  opts: {
    stack: string;
    file: StackFile;
    variant: Variant;
    env?: Record<string, string>;
    dryRun?: boolean;
    /** The project directory (Pulumi.yaml's); berth's own by default. */
    root?: string;
  },
): Promise<LaunchRun> {
  monitor.reset();
  const start = performance.now();
  const child = spawn(
    process.execPath,
    [
      ...(opts.variant.nodeargs ?? []),
      ...launcherArgs(monitor.address, opts.stack, opts.variant.entry, opts.dryRun ?? true, opts.root),
    ],
    { cwd: opts.root ?? ROOT, env: launcherEnv(opts.file, opts.variant, opts.env), stdio: ["ignore", "pipe", "pipe"] },
  );
  let peakKb = 0;
  let cpuMs = 0;
  monitor.onShutdown = () => {
    peakKb = peakRss(child.pid!);
    cpuMs = cpuTime(child.pid!);
  };
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("exit", (code) => {
      const wall = performance.now() - start;
      const run = monitor.run();
      if (code !== 0 || run.errors.length > 0)
        return reject(
          new Error(`${opts.variant.name} exited ${code}:\n${[...run.errors, output].join("\n").slice(0, 4000)}`),
        );
      resolve({
        wall,
        stackRegistered: run.firstRegistration - start,
        registered: run.lastRegistration - start,
        resources: run.registrations + run.reads,
        peakKb,
        cpuMs,
        outputs: run.outputs,
      });
    });
  });
}

/** A fresh directory under `parent`, for a cold cache. */
export const freshDir = (parent: string) => fs.mkdtempSync(path.join(parent, "cache-"));
