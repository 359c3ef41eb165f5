// The fleet's records every part writes: the audit log, and each deployment's events, batched.
import { Actor } from "./requests";
import { Store } from "./store";

export class Records {
  private pendingEvents: unknown[][] = [];

  constructor(
    readonly store: Store,
    readonly log: (line: string) => void,
  ) {}

  get db() {
    return this.store.pool;
  }

  async audit(actor: Actor | string, action: string, target: string, detail?: unknown) {
    await this.db.query("INSERT INTO fleet.audit (actor, action, target, detail) VALUES ($1, $2, $3, $4)", [
      typeof actor === "string" ? actor : actor.name,
      action,
      target,
      detail === undefined ? null : JSON.stringify(detail),
    ]);
  }

  async listAudit(limit = 100) {
    const { rows } = await this.db.query("SELECT * FROM fleet.audit ORDER BY id DESC LIMIT $1", [limit]);
    return rows;
  }

  event(deploymentId: number, kind: string, message: string, data?: unknown) {
    this.pendingEvents.push([deploymentId, kind, message, data === undefined ? null : JSON.stringify(data)]);
  }

  async flushEvents(): Promise<void> {
    if (this.pendingEvents.length === 0) return;
    const batch = this.pendingEvents.splice(0, this.pendingEvents.length);
    const values = batch.map((_, i) => `($${i * 4 + 1}, $${i * 4 + 2}, $${i * 4 + 3}, $${i * 4 + 4})`).join(", ");
    await this.db
      .query(`INSERT INTO fleet.events (deployment_id, kind, message, data) VALUES ${values}`, batch.flat())
      .catch((e) => this.log(`events: ${e.message}`));
  }

  async events(id: number, after = 0) {
    const { rows } = await this.db.query(
      "SELECT id, at, kind, message, data FROM fleet.events WHERE deployment_id = $1 AND id > $2 ORDER BY id LIMIT 1000",
      [id, after],
    );
    return rows.map((r) => ({ ...r, id: Number(r.id) }));
  }
}
