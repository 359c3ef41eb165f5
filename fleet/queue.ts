// The job queue (graphile-worker) that runs deployments one at a time per stack: one queue per
// stack, each deployment one job that is never retried.
import { JobHelpers, Logger, makeWorkerUtils, run, Runner, WorkerUtils } from "graphile-worker";
import { Store } from "./store";

const quiet = new Logger(() => () => undefined);

export class Queue {
  private runner?: Runner;
  private utils?: WorkerUtils;

  constructor(private readonly store: Store) {}

  /** Connects and brings the queue's tables up to date; jobs can be added from then on. */
  async open(): Promise<void> {
    this.utils = await makeWorkerUtils({ connectionString: this.store.connectionString, logger: quiet });
    await this.utils.migrate();
  }

  /** Runs deploy jobs in this process, `concurrency` at once (each on a different stack). */
  async work(
    concurrency: number,
    pollIntervalMs: number | undefined,
    deploy: (deploymentId: number, helpers: JobHelpers) => Promise<void>,
  ): Promise<void> {
    const embedded = this.store.kind === "embedded";
    this.runner = await run({
      connectionString: this.store.connectionString,
      concurrency,
      // PostgreSQL wakes workers through LISTEN/NOTIFY; the embedded store cannot, so it is polled,
      // not too often: its one database session also answers the API.
      pollInterval: embedded ? (pollIntervalMs ?? 500) : 2000,
      noHandleSignals: true,
      noPreparedStatements: embedded,
      logger: quiet,
      taskList: {
        deploy: (payload, helpers) => deploy((payload as { deploymentId: number }).deploymentId, helpers),
      },
    });
  }

  /** Stops taking jobs; the ones running are left to finish. */
  async stopWorking(): Promise<void> {
    await this.runner?.stop();
  }

  async close(): Promise<void> {
    await this.utils?.release();
  }

  async enqueue(id: number, stack: string, runAt?: Date) {
    await this.utils!.addJob(
      "deploy",
      { deploymentId: id },
      { queueName: `stack:${stack}`, maxAttempts: 1, runAt, jobKey: `deployment-${id}`, jobKeyMode: "replace" },
    );
  }

  /** Runs a deployment again at `next`, as a job of its own. */
  async reschedule(id: number, stack: string, next: Date) {
    await this.utils!.addJob(
      "deploy",
      { deploymentId: id },
      { queueName: `stack:${stack}`, maxAttempts: 1, runAt: next, jobKey: `deployment-${id}-${next.getTime()}` },
    );
  }

  /** Takes a pending deployment's job off the queue. */
  async remove(id: number) {
    await this.utils!.withPgClient((c) => c.query("SELECT graphile_worker.remove_job($1)", [`deployment-${id}`]));
  }

  /** Frees the queue slots a dead worker held. */
  async forceUnlock(queueWorker: string) {
    await this.utils!.forceUnlockWorkers([queueWorker]);
  }
}
