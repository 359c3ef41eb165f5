// Running deployments: one `pulumi up` of a deployment's config with its events recorded, the
// health check after it, the automatic rollback after a failure, cancellation, and recovery of
// updates whose worker died.
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { JobHelpers } from "graphile-worker";
import { Deployments } from "./deployments";
import { Engine } from "./engine";
import { Queue } from "./queue";
import { Records } from "./records";
import { Deployment, present } from "./rows";
import { Stacks } from "./stacks";
import { engineConfig, TEMPLATES } from "./templates";
import { MaintenanceWindow, nextWindowStart, previousWindowStart } from "./windows";

export interface JobOptions {
  engine: Engine;
  /** URL checked after a deploy; {domain}, {path}, {app}, {environment}, {version} are filled in. */
  healthUrl?: string;
  healthTimeoutMs?: number;
  /** A worker silent this long is considered dead and its update interrupted. */
  staleAfterMs?: number;
}

export class Jobs {
  private running = new Map<number, AbortController>();
  private stopping = false;

  constructor(
    private readonly opts: JobOptions,
    private readonly workerId: string,
    private readonly records: Records,
    private readonly stacks: Stacks,
    private readonly deployments: Deployments,
    private readonly queue: Queue,
  ) {}

  private get db() {
    return this.records.db;
  }
  private event(deploymentId: number, kind: string, message: string, data?: unknown) {
    this.records.event(deploymentId, kind, message, data);
  }

  /** Cancels the updates in flight (SIGINT to the engine); they are recorded as interrupted. */
  interrupt() {
    this.stopping = true;
    for (const c of this.running.values()) c.abort();
  }

  /** The queue's deploy job: waits for its maintenance window, runs, and rolls back a failure. */
  async run(id: number, helpers: JobHelpers) {
    const d = await this.deployments.get(id);
    if (!d || d.status !== "pending") return;
    if (d.maintenance_window) {
      const w = d.maintenance_window as MaintenanceWindow;
      const opened = previousWindowStart(w, new Date());
      if (!opened || Date.now() > opened.getTime() + w.durationMinutes * 60_000) {
        const next = nextWindowStart(w, new Date());
        this.event(id, "status", `missed its maintenance window; rescheduled for ${next.toISOString()}`);
        await this.db.query("UPDATE fleet.deployments SET scheduled_at = $2 WHERE id = $1", [id, next]);
        await this.queue.reschedule(id, d.stack, next);
        return;
      }
    }
    const { rowCount } = await this.db.query(
      "UPDATE fleet.deployments SET status = 'deploying', started_at = now(), worker = $2, queue_worker = $3 WHERE id = $1 AND status = 'pending'",
      [id, this.workerId, helpers.job.locked_by],
    );
    if (!rowCount) return;
    this.event(id, "status", `deploying on worker ${this.workerId}`);
    await this.records.flushEvents();
    const outcome = await this.execute(d);
    if (outcome.result === "deployed" || outcome.result === "cancelled" || outcome.result === "interrupted") return;
    await this.autoRollback(d, outcome.result === "unhealthy" ? "rolled_back" : "failed");
  }

  /** One `pulumi up` of a deployment's config, its events recorded, then the health check. */
  private async execute(
    d: Deployment,
  ): Promise<{ result: "deployed" | "failed" | "unhealthy" | "cancelled" | "interrupted" }> {
    const id = d.id;
    const controller = new AbortController();
    this.running.set(id, controller);
    const watch = setInterval(async () => {
      const { rows } = await this.db
        .query("SELECT cancel_requested_by FROM fleet.deployments WHERE id = $1", [id])
        .catch(() => ({ rows: [] as { cancel_requested_by: string | null }[] }));
      if (rows[0]?.cancel_requested_by) controller.abort();
    }, 500);
    const onEvent = (e: EngineEvent) => this.engineEvent(id, e);
    try {
      const stack = await this.stacks.with(d.stack, async (s) => {
        // Only what differs from the stack's settings is written; berth: keys the deployment no
        // longer has are removed (the stack's secrets stay).
        const plain = engineConfig(d.config);
        const current = await this.stacks.configured(d.stack);
        const changed = Object.fromEntries(Object.entries(plain).filter(([k, v]) => current[k] !== v));
        const remove = Object.keys(current).filter(
          (k) => k.startsWith("berth:") && k !== "berth:secrets" && !(k in plain),
        );
        await this.opts.engine.applyConfig(s, changed, {}, remove);
        return s;
      });
      const { rows } = await this.db.query("SELECT needs_refresh FROM fleet.stacks WHERE name = $1", [d.stack]);
      if (rows[0]?.needs_refresh) {
        this.event(id, "status", "an earlier update of this stack was interrupted: refreshing its state first");
        await this.opts.engine.refresh(stack, { onEvent, message: `fleet: refresh before deployment ${id}` });
        await this.db.query("UPDATE fleet.stacks SET needs_refresh = false WHERE name = $1", [d.stack]);
      }
      const result = await this.opts.engine.up(stack, {
        onEvent,
        signal: controller.signal,
        message: `fleet deployment ${id}: ${d.kind} ${d.version} by ${d.actor}`,
      });
      // The stack's plain outputs (host addresses, their host keys as known_hosts lines, DNS
      // records); secret ones are left out of the records.
      const outputs = Object.fromEntries(
        Object.entries(result.outputs ?? {})
          .filter(([, o]) => !o.secret)
          .map(([k, o]) => [k, o.value]),
      );
      await this.db.query("UPDATE fleet.deployments SET update_version = $2, outputs = $3 WHERE id = $1", [
        id,
        result.summary?.version ?? null,
        JSON.stringify(outputs),
      ]);
      this.event(id, "status", `update ${result.summary?.version ?? "?"} succeeded; checking health`);
      const health = await this.checkHealth(d);
      if (!health.ok) {
        this.event(id, "health", `health check failed: ${health.detail}`);
        await this.finish(id, "rolled_back", `health check failed: ${health.detail}`);
        return { result: "unhealthy" };
      }
      this.event(id, "health", health.detail);
      await this.finish(id, "deployed", null, true, d.rollback_of);
      return { result: "deployed" };
    } catch (err) {
      const message = errorText(err);
      if (controller.signal.aborted && this.stopping) {
        await this.finish(
          id,
          "failed",
          "interrupted: the service stopped during the update; not retried. Redeploy to continue.",
        );
        await this.db.query("UPDATE fleet.stacks SET needs_refresh = true WHERE name = $1", [d.stack]);
        return { result: "interrupted" };
      }
      if (controller.signal.aborted) {
        const { rows } = await this.db.query("SELECT cancel_requested_by FROM fleet.deployments WHERE id = $1", [id]);
        await this.finish(id, "cancelled", `cancelled by ${rows[0]?.cancel_requested_by}: ${message}`);
        return { result: "cancelled" };
      }
      await this.finish(id, "failed", message);
      return { result: "failed" };
    } finally {
      clearInterval(watch);
      this.running.delete(id);
      await this.records.flushEvents();
    }
  }

  /**
   * Records how a deployment ended. A rollback that deployed marks the deployment it undid
   * `rolled_back` in the same statement, so no reader sees the one without the other. The events
   * before it (the health check's answer) are stored first: whoever sees the status sees them.
   */
  private async finish(id: number, status: string, error: string | null, healthy = false, undid?: number | null) {
    await this.records.flushEvents();
    await this.db.query(
      `UPDATE fleet.deployments SET
         status = CASE WHEN id = $1 THEN $2 ELSE 'rolled_back' END,
         error = CASE WHEN id = $1 THEN $3 ELSE error END,
         finished_at = CASE WHEN id = $1 THEN now() ELSE finished_at END,
         healthy_at = CASE WHEN id = $1 AND $4 THEN now() ELSE healthy_at END
       WHERE id = $1 OR id = $5::bigint`,
      [id, status, error, healthy, undid ?? null],
    );
    this.event(id, "status", error ? `${status}: ${error}` : status);
  }

  /** After a failed or unhealthy deploy: the stack goes back to its last good deployment. */
  private async autoRollback(failed: Deployment, status: "failed" | "rolled_back") {
    const { rows } = await this.db.query(
      "SELECT * FROM fleet.deployments WHERE stack = $1 AND id < $2 AND healthy_at IS NOT NULL ORDER BY healthy_at DESC LIMIT 1",
      [failed.stack, failed.id],
    );
    const good = rows[0] ? present(rows[0]) : undefined;
    if (!good) {
      this.event(failed.id, "status", "no earlier good deployment of this stack to roll back to");
      return;
    }
    let config: Record<string, unknown>;
    try {
      config = await this.deployments.rollbackConfig(good);
    } catch (err) {
      this.event(failed.id, "status", `cannot roll back automatically: ${errorText(err)}`);
      return;
    }
    const row = await this.deployments.insert({
      stack: good.stack,
      app: good.app,
      environment: good.environment,
      template: good.template,
      kind: "auto_rollback",
      version: good.version,
      image: good.image,
      status: "deploying",
      actor: "fleet (automatic rollback)",
      servers: good.servers,
      variables: good.variables,
      config,
      rollback_of: failed.id,
      started_at: new Date(),
      worker: this.workerId,
    });
    this.event(
      failed.id,
      "status",
      `rolling back automatically to deployment ${good.id} (version ${good.version}) as deployment ${row.id}`,
    );
    this.event(
      row.id,
      "status",
      `automatic rollback of deployment ${failed.id} to deployment ${good.id} (version ${good.version})`,
    );
    await this.records.audit("fleet (automatic rollback)", "deployment.rollback", `${good.stack}#${row.id}`, {
      of: failed.id,
      to: good.id,
    });
    const outcome = await this.execute(row);
    if (outcome.result === "deployed")
      await this.db.query("UPDATE fleet.deployments SET status = $2 WHERE id = $1", [failed.id, status]);
  }

  private engineEvent(id: number, e: EngineEvent) {
    const step = e.resourcePreEvent ?? e.resOutputsEvent ?? e.resOpFailedEvent;
    if (step) {
      const { op, urn, type } = step.metadata;
      if (op === "same" || op === "refresh") return;
      const name = urn.split("::").pop();
      const phase = e.resourcePreEvent ? "started" : e.resOutputsEvent ? "done" : "failed";
      this.event(id, phase === "failed" ? "step-failed" : `step-${phase}`, `${op} ${type} ${name}`, { op, urn, type });
    } else if (e.diagnosticEvent) {
      const msg = e.diagnosticEvent.message.trimEnd();
      if (msg) this.event(id, "log", msg, { severity: e.diagnosticEvent.severity, urn: e.diagnosticEvent.urn });
    } else if (e.summaryEvent) {
      this.event(
        id,
        "summary",
        `resources: ${
          Object.entries(e.summaryEvent.resourceChanges ?? {})
            .map(([k, n]) => `${n} ${k}`)
            .join(", ") || "no changes"
        }`,
        e.summaryEvent.resourceChanges,
      );
    }
  }

  private async checkHealth(d: Deployment): Promise<{ ok: boolean; detail: string }> {
    const domain = d.variables.domain as string | undefined;
    const template = TEMPLATES[d.template];
    if (!domain || !template?.healthPath)
      return { ok: true, detail: "no domain to check; the engine's own checks passed" };
    const url = (this.opts.healthUrl ?? "https://{domain}{path}")
      .replace("{domain}", domain)
      .replace("{path}", template.healthPath)
      .replace("{app}", d.app)
      .replace("{environment}", d.environment)
      .replace("{version}", encodeURIComponent(d.version));
    const deadline = Date.now() + (this.opts.healthTimeoutMs ?? 60_000);
    let last: string;
    do {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(5000), redirect: "manual" });
        if (res.status >= 200 && res.status < 400) return { ok: true, detail: `GET ${url} answered ${res.status}` };
        last = `GET ${url} answered ${res.status}`;
      } catch (err) {
        last = `GET ${url} failed: ${(err as Error).message}`;
      }
      await new Promise((r) => setTimeout(r, 250));
    } while (Date.now() < deadline);
    return { ok: false, detail: last };
  }

  /**
   * Updates whose worker stopped sending heartbeats: marked failed (interrupted, never retried),
   * their queue slot and the stack's Pulumi lock released, and the stack refreshed before its
   * next update.
   */
  async recover(): Promise<void> {
    const stale = Math.round((this.opts.staleAfterMs ?? 15_000) / 1000);
    const { rows } = await this.db.query(
      `SELECT d.id, d.stack, d.worker, d.queue_worker FROM fleet.deployments d LEFT JOIN fleet.workers w ON w.id = d.worker
       WHERE d.status = 'deploying' AND d.worker <> $1
         AND (w.id IS NULL OR w.stopped_at IS NOT NULL OR w.heartbeat_at < now() - make_interval(secs => $2))`,
      [this.workerId, stale],
    );
    for (const r of rows) {
      const claimed = await this.db.query(
        "UPDATE fleet.deployments SET status = 'failed', finished_at = now(), error = $2 WHERE id = $1 AND status = 'deploying'",
        [r.id, `interrupted: worker ${r.worker} stopped during the update; not retried. Redeploy to continue.`],
      );
      if (!claimed.rowCount) continue;
      this.event(r.id, "status", `interrupted: worker ${r.worker} stopped answering during the update; not retried`);
      await this.db.query("UPDATE fleet.stacks SET needs_refresh = true WHERE name = $1", [r.stack]);
      if (r.queue_worker) await this.queue.forceUnlock(r.queue_worker);
      try {
        const note = await this.stacks.with(r.stack, (s) => this.opts.engine.releaseLock(s));
        this.event(
          r.id,
          "status",
          `recovered by worker ${this.workerId}: ${note}; the next deploy refreshes the stack first`,
        );
      } catch (err) {
        this.event(r.id, "status", `could not release the stack's lock: ${errorText(err)}`);
      }
      await this.records.audit(`fleet worker ${this.workerId}`, "deployment.interrupted", `${r.stack}#${r.id}`, {
        worker: r.worker,
      });
      await this.records.flushEvents();
    }
  }
}

function errorText(err: unknown): string {
  const text = String((err as Error)?.message ?? err);
  // The Automation API's CommandError carries the whole stderr; keep its error lines.
  const lines = text.split("\n").filter((l) => /error:/i.test(l));
  return (lines.length ? lines.join(" ") : text).replace(/\s+/g, " ").trim().slice(0, 500);
}
