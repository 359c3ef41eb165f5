// Deployments as users ask for them: submitted from a template onto registered servers (gated,
// scheduled or in a maintenance window), rolled back, cancelled, hidden, listed.
import { FINGERPRINT_KEY } from "../config/schema";
import { Queue } from "./queue";
import { Records } from "./records";
import { Actor, checkRequest, deployInputSchema } from "./requests";
import { Deployment, present } from "./rows";
import { Servers } from "./servers";
import { Stacks } from "./stacks";
import { InputError, renderTemplate, ServerRef } from "./templates";
import { MaintenanceWindow, nextWindowStart } from "./windows";

export class Deployments {
  constructor(
    private readonly records: Records,
    private readonly stacks: Stacks,
    private readonly servers: Servers,
    private readonly queue: Queue,
    /** Environment -> environment whose successful deploy of the same version must come first. */
    private readonly gates: Record<string, string>,
  ) {}

  private get db() {
    return this.records.db;
  }

  /**
   * Renders a template for a stack onto registered servers, as berth's schema checks it. The
   * stack's fingerprint key is always among its secrets: the fleet draws it before the first deploy.
   */
  private async render(
    template: string,
    variables: unknown,
    app: string,
    environment: string,
    serverNames: string[],
    provided: string[] = [],
  ) {
    const stack = `${app}-${environment}`;
    const servers = await this.servers.find(serverNames);
    const known = await this.db.query("SELECT secret_names FROM fleet.stacks WHERE name = $1", [stack]);
    const existing: string[] = known.rows[0]?.secret_names ?? [];
    const rendered = renderTemplate(template, variables, {
      app,
      environment,
      servers,
      secretNames: [...existing, ...provided, FINGERPRINT_KEY],
    });
    return { stack, servers, existing, rendered };
  }

  async submit(actor: Actor, input: unknown) {
    const d = checkRequest(deployInputSchema, input);
    const provided = Object.keys(d.secrets ?? {});
    if (provided.includes(FINGERPRINT_KEY))
      throw new InputError([
        `secrets.${FINGERPRINT_KEY}: the fleet draws this key itself before a stack's first deploy and keeps it as a Pulumi secret of the stack; leave it out`,
      ]);
    const { stack, servers, existing, rendered } = await this.render(
      d.template,
      d.variables,
      d.app,
      d.environment,
      d.servers,
      provided,
    );
    await this.checkOwnership(stack, servers);
    const missing = rendered.requiredSecrets.filter((n) => !provided.includes(n) && !existing.includes(n));
    if (missing.length)
      throw new InputError(
        missing.map(
          (n) =>
            `secrets.${n}: required by the ${d.template} template and not yet set on stack ${stack}; give its value under secrets.${n}`,
        ),
      );
    const version = String(rendered.variables.version);
    await this.checkGate(d.app, d.environment, version);

    let scheduledAt = d.scheduledAt ? new Date(d.scheduledAt) : undefined;
    let window: MaintenanceWindow | undefined;
    if (d.maintenanceWindow) {
      const server = servers[0] as ServerRef & { maintenance_window?: MaintenanceWindow };
      if (!server.maintenance_window)
        throw new InputError([
          `maintenanceWindow: server ${server.name} has no maintenance window; set one on the server or give scheduledAt`,
        ]);
      window = server.maintenance_window;
      scheduledAt = nextWindowStart(window, scheduledAt ?? new Date());
    }

    await this.db.query(
      "INSERT INTO fleet.stacks (name, app, environment) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
      [stack, d.app, d.environment],
    );
    if (provided.length || !existing.includes(FINGERPRINT_KEY)) await this.stacks.storeSecrets(stack, d.secrets ?? {});
    const row = await this.insert({
      stack,
      app: d.app,
      environment: d.environment,
      template: d.template,
      kind: "deploy",
      version,
      image: String(rendered.variables.image),
      status: "pending",
      actor: actor.name,
      servers: d.servers,
      variables: rendered.variables,
      config: rendered.config,
      scheduled_at: scheduledAt ?? null,
      maintenance_window: window ?? null,
    });
    await this.records.audit(actor, "deployment.create", `${stack}#${row.id}`, {
      version,
      template: d.template,
      secrets: provided,
      scheduledAt,
    });
    this.records.event(
      row.id,
      "status",
      scheduledAt ? `scheduled for ${scheduledAt.toISOString()} by ${actor.name}` : `queued by ${actor.name}`,
    );
    await this.records.flushEvents();
    await this.queue.enqueue(row.id, stack, scheduledAt);
    return row;
  }

  /**
   * A Hetzner server is declared, and so created, by the stack of the first app deployed on it;
   * a second stack declaring it would try to create another server of the same name.
   */
  private async checkOwnership(stack: string, servers: ServerRef[]) {
    const problems: string[] = [];
    for (const [i, s] of servers.entries()) {
      if (s.kind !== "hetzner") continue;
      const { rows } = await this.db.query(
        "SELECT stack FROM fleet.deployments WHERE $1 = ANY(servers) AND stack <> $2 AND deleted_at IS NULL AND status <> 'cancelled' LIMIT 1",
        [s.name, stack],
      );
      if (!rows[0]) continue;
      const known = await this.servers.deployed(s.name);
      const how = known?.ipv4
        ? `kind existing, address ${known.ipv4}${known.hostKey ? `, hostKeys ["${known.hostKey}"]` : ""}`
        : "kind existing, its address and host keys, once that stack has deployed it";
      problems.push(
        `servers[${i}]: Hetzner server ${s.name} belongs to stack ${rows[0].stack}, which creates it; stack ${stack} would create a second server of its own. To deploy another app onto it, register it again as an existing machine (${how})`,
      );
    }
    if (problems.length) throw new InputError(problems, 409);
  }

  private async checkGate(app: string, environment: string, version: string) {
    const before = this.gates[environment];
    if (!before) return;
    const { rows } = await this.db.query(
      "SELECT 1 FROM fleet.deployments WHERE app = $1 AND environment = $2 AND version = $3 AND healthy_at IS NOT NULL AND deleted_at IS NULL LIMIT 1",
      [app, before, version],
    );
    if (!rows.length)
      throw new InputError(
        [
          `version: ${environment} deploys of ${app} need a successful ${before} deploy of version ${version} first; deploy it to ${before}, wait until it is deployed, then deploy to ${environment}`,
        ],
        409,
      );
  }

  async insert(d: Record<string, unknown>) {
    const keys = Object.keys(d);
    const { rows } = await this.db.query(
      `INSERT INTO fleet.deployments (${keys.join(", ")}) VALUES (${keys.map((_, i) => `$${i + 1}`).join(", ")}) RETURNING *`,
      keys.map((k) => {
        const v = d[k];
        return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date) ? JSON.stringify(v) : v;
      }),
    );
    return present(rows[0]);
  }

  /**
   * What a rollback deploys: the earlier deployment's template and variables (version, image, env),
   * rendered onto its servers as they are registered today, so a server's new host keys or a
   * replacement in progress are kept, not undone.
   */
  async rollbackConfig(target: Deployment): Promise<Record<string, unknown>> {
    try {
      const { rendered } = await this.render(
        target.template,
        target.variables,
        target.app,
        target.environment,
        target.servers,
      );
      return rendered.config;
    } catch (err) {
      if (err instanceof InputError)
        throw new InputError(
          err.problems.map((p) => `rolling back to deployment ${target.id}: ${p}`),
          409,
        );
      throw err;
    }
  }

  async rollback(actor: Actor, targetId: number) {
    const target = await this.get(targetId);
    if (!target) throw new InputError([`deployment ${targetId} does not exist`], 404);
    if (!target.healthy_at)
      throw new InputError(
        [`deployment ${targetId} never deployed successfully; roll back to one that did (status deployed)`],
        409,
      );
    const current = await this.current(target.stack);
    const config = await this.rollbackConfig(target);
    const row = await this.insert({
      stack: target.stack,
      app: target.app,
      environment: target.environment,
      template: target.template,
      kind: "rollback",
      version: target.version,
      image: target.image,
      status: "pending",
      actor: actor.name,
      servers: target.servers,
      variables: target.variables,
      config,
      rollback_of: current?.id ?? null,
    });
    await this.records.audit(actor, "deployment.rollback", `${target.stack}#${row.id}`, {
      to: targetId,
      version: target.version,
    });
    this.records.event(
      row.id,
      "status",
      `rollback to deployment ${targetId} (version ${target.version}) queued by ${actor.name}`,
    );
    await this.queue.enqueue(row.id, target.stack);
    return row;
  }

  async cancel(actor: Actor, id: number) {
    const d = await this.get(id);
    if (!d) throw new InputError([`deployment ${id} does not exist`], 404);
    if (d.status === "pending") {
      const { rowCount } = await this.db.query(
        "UPDATE fleet.deployments SET status = 'cancelled', finished_at = now(), cancel_requested_by = $2 WHERE id = $1 AND status = 'pending'",
        [id, actor.name],
      );
      if (rowCount) {
        await this.queue.remove(id).catch(() => undefined);
        this.records.event(id, "status", `cancelled by ${actor.name} before it started`);
        await this.records.audit(actor, "deployment.cancel", `${d.stack}#${id}`);
        return;
      }
    }
    const { rowCount } = await this.db.query(
      "UPDATE fleet.deployments SET cancel_requested_by = $2 WHERE id = $1 AND status = 'deploying'",
      [id, actor.name],
    );
    if (!rowCount)
      throw new InputError([`deployment ${id} is ${d.status}; only pending or deploying ones can be cancelled`], 409);
    this.records.event(id, "status", `cancel requested by ${actor.name}`);
    await this.records.audit(actor, "deployment.cancel", `${d.stack}#${id}`);
  }

  async remove(actor: Actor, id: number) {
    const { rowCount } = await this.db.query(
      "UPDATE fleet.deployments SET deleted_at = now(), deleted_by = $2 WHERE id = $1 AND deleted_at IS NULL AND status NOT IN ('pending', 'deploying')",
      [id, actor.name],
    );
    if (!rowCount)
      throw new InputError([`deployment ${id} does not exist, is already hidden, or is still running`], 409);
    await this.records.audit(actor, "deployment.hide", String(id));
  }

  async get(id: number) {
    const { rows } = await this.db.query("SELECT * FROM fleet.deployments WHERE id = $1", [id]);
    return rows[0] ? present(rows[0]) : undefined;
  }

  async list(filter: { server?: string; app?: string; environment?: string; status?: string; limit?: number }) {
    const where = ["deleted_at IS NULL"];
    const args: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      args.push(v);
      where.push(sql.replace("?", `$${args.length}`));
    };
    if (filter.server) add("? = ANY(servers)", filter.server);
    if (filter.app) add("app = ?", filter.app);
    if (filter.environment) add("environment = ?", filter.environment);
    if (filter.status) add("status = ?", filter.status);
    args.push(Math.min(filter.limit ?? 100, 500));
    const { rows } = await this.db.query(
      `SELECT id, stack, app, environment, template, kind, version, image, status, actor, servers, rollback_of, scheduled_at,
              created_at, started_at, finished_at, healthy_at, error, update_version
       FROM fleet.deployments WHERE ${where.join(" AND ")} ORDER BY id DESC LIMIT $${args.length}`,
      args,
    );
    return rows.map(present);
  }

  /** The stack's deployment running now: its newest healthy one still deployed. */
  private async current(stack: string) {
    const { rows } = await this.db.query(
      "SELECT * FROM fleet.deployments WHERE stack = $1 AND healthy_at IS NOT NULL AND status = 'deployed' ORDER BY healthy_at DESC LIMIT 1",
      [stack],
    );
    return rows[0];
  }
}
