// Starts a fleet service: store, engine, worker and HTTP API, as `berth fleet serve` and the
// tests do. Everything it needs comes from its options; nothing is read from a global.
import { ChildProcess, fork } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Engine } from "./engine";
import { buildServer } from "./server";
import { Fleet, FleetOptions } from "./service";
import { openStore } from "./store";
import type { WorkerConfig } from "./worker";

export const BERTH_ROOT = path.resolve(__dirname, "..");

export interface ServeOptions {
  dataDir: string;
  databaseUrl?: string;
  host?: string;
  port?: number;
  /** berth's project directory, the Automation API's workDir. */
  projectDir?: string;
  pulumiRoot?: string;
  /** Pulumi state of the fleet's stacks; default file://<dataDir>/state. */
  backendUrl?: string;
  /** Extra environment for the Pulumi CLI (cloud tokens, test switches). */
  env?: Record<string, string>;
  concurrency?: number;
  gates?: Record<string, string>;
  healthUrl?: string;
  healthTimeoutMs?: number;
  heartbeatMs?: number;
  staleAfterMs?: number;
  pollIntervalMs?: number;
  /** Run deployments (false: API only, other processes run them). */
  work?: boolean;
  /** Run them in this process instead of a worker process beside it. */
  inProcessWorker?: boolean;
  log?: (line: string) => void;
}

export interface RunningFleet {
  url: string;
  fleet: Fleet;
  /** The first admin token, when this start created it. */
  adminToken?: string;
  /** The worker that runs this service's deployments, when it has one. */
  workerId?: string;
  close(): Promise<void>;
}

/** The passphrase that encrypts the fleet stacks' secrets: given, or made once for this data directory. */
function passphraseEnv(dataDir: string, env: Record<string, string | undefined>): Record<string, string> {
  if (env.PULUMI_CONFIG_PASSPHRASE !== undefined) return { PULUMI_CONFIG_PASSPHRASE: env.PULUMI_CONFIG_PASSPHRASE };
  if (env.PULUMI_CONFIG_PASSPHRASE_FILE) return { PULUMI_CONFIG_PASSPHRASE_FILE: env.PULUMI_CONFIG_PASSPHRASE_FILE };
  const file = path.join(dataDir, "secrets-passphrase");
  if (!fs.existsSync(file))
    fs.writeFileSync(file, crypto.randomBytes(32).toString("base64url") + "\n", { mode: 0o600 });
  return { PULUMI_CONFIG_PASSPHRASE_FILE: file };
}

export async function startFleet(opts: ServeOptions): Promise<RunningFleet> {
  const dataDir = path.resolve(opts.dataDir);
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const store = await openStore({ databaseUrl: opts.databaseUrl, dataDir });
  const backendUrl = opts.backendUrl ?? `file://${path.join(dataDir, "state")}`;
  if (backendUrl.startsWith("file://")) fs.mkdirSync(backendUrl.slice("file://".length), { recursive: true });
  const base: Record<string, string | undefined> = { ...process.env, ...opts.env };
  const env: Record<string, string> = {
    ...(opts.env ?? {}),
    PULUMI_BACKEND_URL: backendUrl,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    ...passphraseEnv(dataDir, base),
  };
  const engine = new Engine({ workDir: opts.projectDir ?? BERTH_ROOT, pulumiRoot: opts.pulumiRoot, env });
  const separate = opts.work !== false && !opts.inProcessWorker;
  const options: FleetOptions = { ...opts, store, engine, work: separate ? false : opts.work };
  const fleet = new Fleet(options);
  let server: Awaited<ReturnType<typeof buildServer>> | undefined;
  let worker: { child: ChildProcess; id: string } | undefined;
  try {
    await fleet.start();
    if (separate) {
      worker = await startWorker({
        connectionString: store.connectionString,
        embedded: store.kind === "embedded",
        dataDir,
        engine: engine.opts,
        fleet: {
          concurrency: opts.concurrency,
          gates: opts.gates,
          healthUrl: opts.healthUrl,
          healthTimeoutMs: opts.healthTimeoutMs,
          heartbeatMs: opts.heartbeatMs,
          staleAfterMs: opts.staleAfterMs,
          pollIntervalMs: opts.pollIntervalMs,
        },
      });
    }
    const adminToken = await fleet.bootstrapToken();
    server = await buildServer(fleet);
    const address = await server.listen({ host: opts.host ?? "127.0.0.1", port: opts.port ?? 0 });
    const s = server;
    return {
      url: address.replace("[::1]", "127.0.0.1"),
      fleet,
      adminToken,
      workerId: separate ? worker?.id : fleet.workerId,
      async close() {
        await s.close();
        await stopWorker(worker?.child);
        await fleet.stop();
        await store.close();
      },
    };
  } catch (err) {
    await server?.close().catch(() => undefined);
    await stopWorker(worker?.child);
    await fleet.stop().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }
}

function startWorker(config: WorkerConfig): Promise<{ child: ChildProcess; id: string }> {
  const child = fork(path.join(__dirname, "worker-process.cjs"), [], {
    execArgv: [],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  // Deployments are background work: the worker and the pulumi processes it starts yield the CPU
  // to the API, whose answers someone is waiting for.
  try {
    os.setPriority(child.pid!, 10);
  } catch {
    // Not allowed here: run at the same priority.
  }
  child.send(config);
  return new Promise((resolve, reject) => {
    child.once("message", (m: { ready?: string; error?: string }) =>
      m.ready ? resolve({ child, id: m.ready }) : reject(new Error(`the fleet worker did not start: ${m.error}`)),
    );
    child.once("exit", (code) => reject(new Error(`the fleet worker exited (${code}) before it started`)));
  });
}

/** Asks the worker to stop (updates in flight are cancelled and recorded) and waits for it. */
async function stopWorker(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.send("stop");
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  await exited;
  clearTimeout(timer);
}
