// The fleet engine: servers, deployments from templates, the job queue that runs them one at a
// time per stack, health checks with automatic rollback, cancellation, recovery of updates whose
// worker died, tokens and the audit log. The HTTP API (server.ts) is a thin layer over its parts,
// each in a file of its own; this one puts them together and starts and stops a worker.
import * as crypto from "node:crypto";
import * as os from "node:os";
import { Deployments } from "./deployments";
import { JobOptions, Jobs } from "./jobs";
import { Queue } from "./queue";
import { Records } from "./records";
import { Servers } from "./servers";
import { Stacks } from "./stacks";
import { FleetSetupError, Store } from "./store";
import { Tokens } from "./tokens";

export {
  deployInputSchema,
  ROLES,
  serverInputSchema,
  serverUpdateSchema,
  STATUSES,
  type Actor,
  type DeployInput,
  type Role,
  type ServerInput,
} from "./requests";
export type { Deployment } from "./rows";
export { maintenanceWindowSchema, nextWindowStart } from "./windows";
export { FleetSetupError };

export interface FleetOptions extends JobOptions {
  store: Store;
  /** Deployments one worker runs at once (each on a different stack). */
  concurrency?: number;
  /** Environment -> environment whose successful deploy of the same version must come first. */
  gates?: Record<string, string>;
  heartbeatMs?: number;
  /** How often an idle worker on the embedded store looks for jobs (PostgreSQL wakes it at once). */
  pollIntervalMs?: number;
  /** Run deployments in this process (false: API only). */
  work?: boolean;
  log?: (line: string) => void;
}

export class Fleet {
  readonly workerId = `${os.hostname()}-${process.pid}-${crypto.randomBytes(3).toString("hex")}`;
  readonly gates: Record<string, string>;
  private timers: NodeJS.Timeout[] = [];
  /** The audit log and deployment events. */
  readonly records: Records;
  readonly tokens: Tokens;
  readonly servers: Servers;
  readonly deployments: Deployments;
  private readonly queue: Queue;
  private readonly jobs: Jobs;

  constructor(readonly opts: FleetOptions) {
    this.gates = opts.gates ?? { production: "staging" };
    this.records = new Records(opts.store, (line) => this.opts.log?.(line));
    this.queue = new Queue(opts.store);
    this.tokens = new Tokens(this.records);
    this.servers = new Servers(this.records);
    const stacks = new Stacks(this.records, opts.engine);
    this.deployments = new Deployments(this.records, stacks, this.servers, this.queue, this.gates);
    this.jobs = new Jobs(opts, this.workerId, this.records, stacks, this.deployments, this.queue);
  }

  private get db() {
    return this.opts.store.pool;
  }

  async start(): Promise<void> {
    await this.queue.open();
    this.timers.push(setInterval(() => void this.flushEvents(), 250));
    if (this.opts.work === false) return;
    await this.db.query("INSERT INTO fleet.workers (id, host, pid) VALUES ($1, $2, $3)", [
      this.workerId,
      os.hostname(),
      process.pid,
    ]);
    this.timers.push(
      setInterval(
        () =>
          void this.db
            .query("UPDATE fleet.workers SET heartbeat_at = now() WHERE id = $1", [this.workerId])
            .catch(() => undefined),
        this.opts.heartbeatMs ?? 2000,
      ),
      setInterval(
        () => void this.recover().catch((e) => this.records.log(`recovery: ${e.message}`)),
        this.opts.heartbeatMs ?? 2000,
      ),
    );
    await this.queue.work(this.opts.concurrency ?? 2, this.opts.pollIntervalMs, (id, helpers) =>
      this.jobs.run(id, helpers),
    );
    await this.recover();
  }

  /** Stops taking jobs; updates in flight are cancelled (SIGINT to the engine) and recorded as interrupted. */
  async stop(): Promise<void> {
    this.jobs.interrupt();
    await this.queue.stopWorking();
    for (const t of this.timers) clearInterval(t);
    await this.flushEvents();
    if (this.opts.work !== false)
      await this.db
        .query("UPDATE fleet.workers SET stopped_at = now() WHERE id = $1", [this.workerId])
        .catch(() => undefined);
    await this.queue.close();
  }

  /** Writes the deployment events recorded so far (they are batched). */
  flushEvents() {
    return this.records.flushEvents();
  }

  /** Updates whose worker stopped sending heartbeats are marked interrupted and their stacks unlocked. */
  recover() {
    return this.jobs.recover();
  }
}
