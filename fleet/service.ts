// The fleet engine: servers, deployments from templates, the job queue that runs them one at a
// time per stack, health checks with automatic rollback, cancellation, recovery of updates whose
// worker died, tokens and the audit log. The HTTP API (server.ts) is a thin layer over this.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { EngineEvent, Stack } from "@pulumi/pulumi/automation";
import { CronExpressionParser } from "cron-parser";
import { JobHelpers, Logger, makeWorkerUtils, run, Runner, WorkerUtils } from "graphile-worker";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { ConfigError, parseConfig } from "../config/load";
import { FINGERPRINT_KEY, hostKeyScan, hostKeysHelp } from "../config/schema";
import { Engine } from "./engine";
import { parseRequest } from "./problems";
import { FleetSetupError, Store } from "./store";
import { engineConfig, InputError, renderTemplate, ServerRef, TEMPLATES } from "./templates";

export const ROLES = ["viewer", "deployer", "admin"] as const;
export type Role = (typeof ROLES)[number];
export interface Actor {
  name: string;
  role: Role;
}
export const STATUSES = ["pending", "deploying", "deployed", "failed", "rolled_back", "cancelled"] as const;

export interface FleetOptions {
  store: Store;
  engine: Engine;
  /** Deployments one worker runs at once (each on a different stack). */
  concurrency?: number;
  /** Environment -> environment whose successful deploy of the same version must come first. */
  gates?: Record<string, string>;
  /** URL checked after a deploy; {domain}, {path}, {app}, {environment}, {version} are filled in. */
  healthUrl?: string;
  healthTimeoutMs?: number;
  heartbeatMs?: number;
  /** A worker silent this long is considered dead and its update interrupted. */
  staleAfterMs?: number;
  /** How often an idle worker on the embedded store looks for jobs (PostgreSQL wakes it at once). */
  pollIntervalMs?: number;
  /** Run deployments in this process (false: API only). */
  work?: boolean;
  log?: (line: string) => void;
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
const nameSchema = (what: string) =>
  z.string().regex(NAME, `must be a lowercase ${what}: letters, digits and dashes, at most 32 characters`);

export const maintenanceWindowSchema = z
  .strictObject({
    cron: z.string().min(1).describe("When the window opens, as a cron expression in UTC, e.g. `0 2 * * 0`."),
    durationMinutes: z.number().int().min(1).max(1440).describe("How long the window stays open."),
  })
  .superRefine((w, ctx) => {
    try {
      CronExpressionParser.parse(w.cron, { tz: "UTC" });
    } catch {
      ctx.addIssue({
        code: "custom",
        path: ["cron"],
        message: "is not a cron expression such as `0 2 * * 0` (Sundays 02:00 UTC)",
      });
    }
  });

const HOST_KEYS_HELP =
  "SSH host keys of an existing machine, one per line as `ssh-keyscan -t ed25519 ADDRESS` prints them (or as its /etc/ssh/ssh_host_ed25519_key.pub holds them): berth verifies the machine with them instead of trusting the first key it sees.";

export const serverInputSchema = z.strictObject({
  name: nameSchema("server name"),
  kind: z
    .enum(["existing", "hetzner"])
    .describe("An existing machine by address, or a Hetzner Cloud server berth creates."),
  address: z.string().optional().describe("Public address of an existing machine."),
  ipv6: z.string().optional(),
  privateAddress: z.string().optional(),
  hostKeys: z.array(z.string()).optional().describe(`Required for an existing machine. ${HOST_KEYS_HELP}`),
  serverType: z.string().optional().describe("Hetzner server type, e.g. cx23."),
  location: z.string().optional().describe("Hetzner location, e.g. fsn1."),
  hetznerKeyName: z
    .string()
    .optional()
    .describe(
      "Required for a Hetzner Cloud server: the name under which sshPublicKey is registered in the Hetzner project (`hcloud ssh-key create --name deploy --public-key-from-file ~/.ssh/id_ed25519.pub`). Hetzner accepts a public key once per project, and the fleet's stacks share it.",
    ),
  sshUser: z.string().default("root"),
  sshPort: z.number().int().min(1).max(65535).default(22),
  sshPublicKey: z.string().min(1).describe("Public key installed on Hetzner servers and expected by existing ones."),
  maintenanceWindow: maintenanceWindowSchema.optional(),
});
export type ServerInput = z.input<typeof serverInputSchema>;

export const serverUpdateSchema = z.strictObject({
  hostKeys: z
    .array(z.string())
    .optional()
    .describe(`New host keys of an existing machine (after a reinstall, say). ${HOST_KEYS_HELP}`),
  replace: z
    .enum(["unprotect", "rebuild"])
    .nullable()
    .optional()
    .describe(
      "Replacing a Hetzner Cloud server on purpose, on the next deploy of the stack that creates it: `unprotect` lifts its protection, `rebuild` also builds it from today's bootstrap, image and SSH key (berth's `replace`, see README, Replacing a server). null: protected again.",
    ),
  maintenanceWindow: maintenanceWindowSchema.nullable().optional().describe("null: no maintenance window."),
});

export const deployInputSchema = z.strictObject({
  app: nameSchema("app name"),
  environment: nameSchema("environment name"),
  template: z.string(),
  servers: z.array(z.string()).min(1, "choose at least one server"),
  variables: z.record(z.string(), z.unknown()),
  secrets: z
    .record(
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a variable name such as RAILS_MASTER_KEY"),
      z.string().min(1),
    )
    .optional()
    .describe("Secret values, stored only as Pulumi secrets of the app's stack."),
  scheduledAt: z.iso.datetime({ offset: true }).optional().describe("Start no earlier than this time."),
  maintenanceWindow: z.boolean().optional().describe("Start in the next maintenance window of the first server."),
});
export type DeployInput = z.input<typeof deployInputSchema>;

/** A server's record as berth's host rules check it. */
interface ServerFields {
  name: string;
  kind: "existing" | "hetzner";
  address?: string | null;
  ipv6?: string | null;
  privateAddress?: string | null;
  hostKeys?: string[] | null;
  serverType?: string | null;
  location?: string | null;
  hetznerKeyName?: string | null;
  replace?: string | null;
  sshUser: string;
  sshPort: number;
  sshPublicKey: string;
}

const SSH_FIELDS: Record<string, string> = {
  publicKey: "sshPublicKey",
  user: "sshUser",
  port: "sshPort",
  hetznerKeyName: "hetznerKeyName",
};

/**
 * berth's own host rules decide what a valid server is (an address and its host keys, or a type
 * and location, ...): the server is checked as the one host of a probe stack, and each problem is
 * given back under the API's field name, host key hints telling where the key goes in the fleet.
 */
function serverProblems(s: ServerFields): string[] {
  const problems: string[] = [];
  const plain = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v != null));
  if (s.kind === "hetzner") {
    if (!s.hetznerKeyName)
      problems.push(
        "hetznerKeyName: required for a Hetzner Cloud server: Hetzner accepts a public key once per project and the fleet's stacks share the project, so register sshPublicKey there once (`hcloud ssh-key create --name deploy --public-key-from-file ~/.ssh/id_ed25519.pub`) and give its name here",
      );
    if (s.hostKeys?.length)
      problems.push("hostKeys: only for existing machines; berth generates a Hetzner Cloud server's host key itself");
  }
  const host =
    s.kind === "existing"
      ? plain({
          address: s.address,
          ipv6: s.ipv6,
          privateAddress: s.privateAddress,
          // No keys at all is "required", with the hint how to get them.
          hostKeys: s.hostKeys?.length ? s.hostKeys : null,
        })
      : plain({ serverType: s.serverType, location: s.location, replace: s.replace });
  try {
    parseConfig(
      {
        service: "probe",
        image: "example/probe",
        version: "1",
        hosts: { [s.name]: host },
        servers: { web: { hosts: [s.name] } },
        ssh: plain({ user: s.sshUser, port: s.sshPort, publicKey: s.sshPublicKey, hetznerKeyName: s.hetznerKeyName }),
      },
      "probe",
    );
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const address = s.address ?? "<server address>";
    for (const p of err.problems) {
      const text = p.replace(
        hostKeysHelp(s.name, address, s.sshPort),
        `${hostKeyScan(address, s.sshPort)}, then give the line it prints in hostKeys`,
      );
      const onHost = text.startsWith(`berth:hosts.${s.name}.`)
        ? text.slice(`berth:hosts.${s.name}.`.length)
        : undefined;
      const ssh = /^berth:ssh\.(\w+)(: .*)$/s.exec(text);
      problems.push(onHost ?? (ssh && SSH_FIELDS[ssh[1]] ? `${SSH_FIELDS[ssh[1]]}${ssh[2]}` : text));
    }
  }
  return problems;
}

function checkRequest<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const parsed = parseRequest(schema, input);
  if (parsed.problems) throw new InputError(parsed.problems);
  return parsed.value;
}

export class Fleet {
  readonly workerId = `${os.hostname()}-${process.pid}-${crypto.randomBytes(3).toString("hex")}`;
  private runner?: Runner;
  private utils?: WorkerUtils;
  private timers: NodeJS.Timeout[] = [];
  private running = new Map<number, AbortController>();
  private pendingEvents: unknown[][] = [];
  private stopping = false;
  private stackTurns = new Map<string, Promise<void>>();
  private tokenCache = new Map<string, { actor: Actor; until: number }>();
  readonly gates: Record<string, string>;

  constructor(readonly opts: FleetOptions) {
    this.gates = opts.gates ?? { production: "staging" };
  }

  private get db() {
    return this.opts.store.pool;
  }
  private log(line: string) {
    this.opts.log?.(line);
  }

  async start(): Promise<void> {
    const quiet = new Logger(() => () => undefined);
    const embedded = this.opts.store.kind === "embedded";
    this.utils = await makeWorkerUtils({ connectionString: this.opts.store.connectionString, logger: quiet });
    await this.utils.migrate();
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
        () => void this.recover().catch((e) => this.log(`recovery: ${e.message}`)),
        this.opts.heartbeatMs ?? 2000,
      ),
    );
    this.runner = await run({
      connectionString: this.opts.store.connectionString,
      concurrency: this.opts.concurrency ?? 2,
      // PostgreSQL wakes workers through LISTEN/NOTIFY; the embedded store cannot, so it is polled,
      // not too often: its one database session also answers the API.
      pollInterval: embedded ? (this.opts.pollIntervalMs ?? 500) : 2000,
      noHandleSignals: true,
      noPreparedStatements: embedded,
      logger: quiet,
      taskList: {
        deploy: (payload, helpers) => this.runJob((payload as { deploymentId: number }).deploymentId, helpers),
      },
    });
    await this.recover();
  }

  /** Stops taking jobs; updates in flight are cancelled (SIGINT to the engine) and recorded as interrupted. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const c of this.running.values()) c.abort();
    await this.runner?.stop();
    for (const t of this.timers) clearInterval(t);
    await this.flushEvents();
    if (this.opts.work !== false)
      await this.db
        .query("UPDATE fleet.workers SET stopped_at = now() WHERE id = $1", [this.workerId])
        .catch(() => undefined);
    await this.utils?.release();
  }

  // ---------------------------------------------------------------- records

  async audit(actor: Actor | string, action: string, target: string, detail?: unknown) {
    await this.db.query("INSERT INTO fleet.audit (actor, action, target, detail) VALUES ($1, $2, $3, $4)", [
      typeof actor === "string" ? actor : actor.name,
      action,
      target,
      detail === undefined ? null : JSON.stringify(detail),
    ]);
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

  // ---------------------------------------------------------------- tokens

  async createToken(by: Actor | string, name: string, role: Role): Promise<string> {
    if (!ROLES.includes(role)) throw new InputError([`role: must be one of ${ROLES.join(", ")}`]);
    const token = `bft_${crypto.randomBytes(24).toString("base64url")}`;
    await this.db.query("INSERT INTO fleet.tokens (name, role, hash, created_by) VALUES ($1, $2, $3, $4)", [
      name,
      role,
      hashToken(token),
      typeof by === "string" ? by : by.name,
    ]);
    await this.audit(by, "token.create", name, { role });
    return token;
  }

  /**
   * The first admin token, when none exists yet. Services starting at once on one PostgreSQL
   * server take turns (an advisory lock), so only one of them makes it.
   */
  async bootstrapToken(): Promise<string | undefined> {
    const client = this.opts.store.kind === "postgres" ? await this.db.connect() : undefined;
    try {
      await client?.query("SELECT pg_advisory_lock(4242003)");
      const { rows } = await this.db.query("SELECT count(*)::int AS n FROM fleet.tokens WHERE revoked_at IS NULL");
      if (rows[0].n > 0) return undefined;
      return await this.createToken("berth fleet serve", "admin", "admin");
    } finally {
      await client?.query("SELECT pg_advisory_unlock(4242003)").catch(() => undefined);
      client?.release();
    }
  }

  /**
   * The token's owner. Answers are remembered for a few seconds, which halves the queries of a
   * busy dashboard; a revocation applies at once here and within those seconds elsewhere.
   */
  async authenticate(token: string | undefined): Promise<Actor | undefined> {
    if (!token) return undefined;
    const hash = hashToken(token);
    const known = this.tokenCache.get(hash);
    if (known && known.until > Date.now()) return known.actor;
    const { rows } = await this.db.query("SELECT name, role FROM fleet.tokens WHERE hash = $1 AND revoked_at IS NULL", [
      hash,
    ]);
    const actor: Actor | undefined = rows[0] ? { name: rows[0].name, role: rows[0].role } : undefined;
    if (actor) this.tokenCache.set(hash, { actor, until: Date.now() + 5000 });
    return actor;
  }

  async listTokens() {
    const { rows } = await this.db.query(
      "SELECT id, name, role, created_by, created_at, revoked_at FROM fleet.tokens ORDER BY id",
    );
    return rows;
  }

  async revokeToken(actor: Actor, id: number) {
    await this.db.query("UPDATE fleet.tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", [id]);
    this.tokenCache.clear();
    await this.audit(actor, "token.revoke", String(id));
  }

  // ---------------------------------------------------------------- servers

  async registerServer(actor: Actor, input: unknown) {
    const s = checkRequest(serverInputSchema, input);
    const problems = serverProblems(s);
    if (problems.length) throw new InputError(problems);
    try {
      const { rows } = await this.db.query(
        `INSERT INTO fleet.servers (name, kind, address, ipv6, private_address, host_keys, server_type, location, hetzner_key_name, ssh_user, ssh_port, ssh_public_key, maintenance_window, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING *`,
        [
          s.name,
          s.kind,
          s.address ?? null,
          s.ipv6 ?? null,
          s.privateAddress ?? null,
          s.hostKeys ?? [],
          s.serverType ?? null,
          s.location ?? null,
          s.hetznerKeyName ?? null,
          s.sshUser,
          s.sshPort,
          s.sshPublicKey,
          s.maintenanceWindow ? JSON.stringify(s.maintenanceWindow) : null,
          actor.name,
        ],
      );
      await this.audit(actor, "server.register", s.name, { kind: s.kind });
      return rows[0];
    } catch (err) {
      if ((err as { code?: string }).code === "23505")
        throw new InputError([`name: a server named "${s.name}" is already registered; choose another name`], 409);
      throw err;
    }
  }

  /**
   * Changes what may change on a registered server: an existing machine's host keys (after a
   * reinstall), a Hetzner server's deliberate replacement, the maintenance window. Stacks see the
   * change on their next deploy.
   */
  async updateServer(actor: Actor, name: string, input: unknown) {
    const u = checkRequest(serverUpdateSchema, input);
    const { rows } = await this.db.query("SELECT * FROM fleet.servers WHERE name = $1 AND deleted_at IS NULL", [name]);
    const row = rows[0];
    if (!row) throw new InputError([`server "${name}" is not registered`], 404);
    const next = {
      host_keys: u.hostKeys ?? row.host_keys,
      replace: u.replace === undefined ? row.replace : u.replace,
      maintenance_window: u.maintenanceWindow === undefined ? row.maintenance_window : u.maintenanceWindow,
    };
    const problems = [
      ...(u.replace && row.kind !== "hetzner"
        ? ["replace: only for Hetzner Cloud servers; an existing machine is never replaced by berth"]
        : []),
      ...serverProblems({
        name,
        kind: row.kind,
        address: row.address,
        ipv6: row.ipv6,
        privateAddress: row.private_address,
        hostKeys: row.kind === "existing" ? next.host_keys : u.hostKeys,
        serverType: row.server_type,
        location: row.location,
        hetznerKeyName: row.hetzner_key_name,
        replace: row.kind === "hetzner" ? next.replace : null,
        sshUser: row.ssh_user,
        sshPort: row.ssh_port,
        sshPublicKey: row.ssh_public_key,
      }),
    ];
    if (problems.length) throw new InputError([...new Set(problems)]);
    const updated = await this.db.query(
      "UPDATE fleet.servers SET host_keys = $2, replace = $3, maintenance_window = $4 WHERE id = $1 RETURNING *",
      [row.id, next.host_keys, next.replace, next.maintenance_window ? JSON.stringify(next.maintenance_window) : null],
    );
    await this.audit(actor, "server.update", name, u);
    return updated.rows[0];
  }

  async listServers() {
    const { rows } = await this.db.query(
      `SELECT s.*, (SELECT count(*)::int FROM fleet.deployments d WHERE s.name = ANY(d.servers) AND d.deleted_at IS NULL) AS deployments,
              (SELECT d.outputs->'hosts'->s.name FROM fleet.deployments d
                WHERE s.name = ANY(d.servers) AND d.healthy_at IS NOT NULL AND d.outputs ? 'hosts'
                ORDER BY d.healthy_at DESC LIMIT 1) AS deployed
       FROM fleet.servers s WHERE s.deleted_at IS NULL ORDER BY s.name`,
    );
    return rows;
  }

  async removeServer(actor: Actor, name: string) {
    const { rowCount } = await this.db.query(
      "UPDATE fleet.servers SET deleted_at = now(), deleted_by = $2 WHERE name = $1 AND deleted_at IS NULL",
      [name, actor.name],
    );
    if (!rowCount) throw new InputError([`server "${name}" is not registered`], 404);
    await this.audit(actor, "server.remove", name);
  }

  private async servers(names: string[]): Promise<ServerRef[]> {
    const { rows } = await this.db.query("SELECT * FROM fleet.servers WHERE name = ANY($1) AND deleted_at IS NULL", [
      names,
    ]);
    const problems = names.flatMap((n, i) =>
      rows.some((r) => r.name === n)
        ? []
        : [`servers[${i}]: unknown server "${n}"; register it first (POST /api/servers)`],
    );
    if (problems.length) throw new InputError(problems);
    return names.map((n) => rows.find((r) => r.name === n));
  }

  // ---------------------------------------------------------------- deployments

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
    const servers = await this.servers(serverNames);
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
    let window: { cron: string; durationMinutes: number } | undefined;
    if (d.maintenanceWindow) {
      const server = servers[0] as ServerRef & { maintenance_window?: { cron: string; durationMinutes: number } };
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
    if (provided.length || !existing.includes(FINGERPRINT_KEY)) await this.storeSecrets(stack, d.secrets ?? {});
    const row = await this.insertDeployment({
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
    await this.audit(actor, "deployment.create", `${stack}#${row.id}`, {
      version,
      template: d.template,
      secrets: provided,
      scheduledAt,
    });
    this.event(
      row.id,
      "status",
      scheduledAt ? `scheduled for ${scheduledAt.toISOString()} by ${actor.name}` : `queued by ${actor.name}`,
    );
    await this.flushEvents();
    await this.enqueue(row.id, stack, scheduledAt);
    return row;
  }

  /**
   * Secrets go straight into the stack's config as Pulumi secrets; only their names are recorded.
   * Before the stack's first deploy the fleet adds the key of its container fingerprints (berth
   * names app containers after a keyed fingerprint of what they run, config/stack.ts): random,
   * drawn once, kept as a secret of the stack and reused by every later deploy. It is looked for
   * while holding the stack's turn, so two first deploys never draw two keys.
   */
  private async storeSecrets(stack: string, given: Record<string, string>) {
    await this.withStack(stack, async (s) => {
      const { rows } = await this.db.query("SELECT secret_names FROM fleet.stacks WHERE name = $1", [stack]);
      const values = { ...given };
      if (!(rows[0]?.secret_names ?? []).includes(FINGERPRINT_KEY))
        values[FINGERPRINT_KEY] = crypto.randomBytes(32).toString("hex");
      if (Object.keys(values).length === 0) return;
      await this.opts.engine.applyConfig(
        s,
        {},
        Object.fromEntries(Object.entries(values).map(([k, v]) => [`berth:secrets.${k}`, v])),
        [],
      );
      await this.db.query(
        "UPDATE fleet.stacks SET secret_names = ARRAY(SELECT DISTINCT unnest(secret_names || $2::text[])) WHERE name = $1",
        [stack, Object.keys(values)],
      );
    });
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
      const known = await this.deployedHost(s.name);
      const how = known?.ipv4
        ? `kind existing, address ${known.ipv4}${known.hostKey ? `, hostKeys ["${known.hostKey}"]` : ""}`
        : "kind existing, its address and host keys, once that stack has deployed it";
      problems.push(
        `servers[${i}]: Hetzner server ${s.name} belongs to stack ${rows[0].stack}, which creates it; stack ${stack} would create a second server of its own. To deploy another app onto it, register it again as an existing machine (${how})`,
      );
    }
    if (problems.length) throw new InputError(problems, 409);
  }

  /** What the newest healthy deployment on a server learned of it (address, host key), from its stack's outputs. */
  private async deployedHost(server: string): Promise<{ ipv4?: string; hostKey?: string } | undefined> {
    const { rows } = await this.db.query(
      "SELECT outputs->'hosts'->$1 AS host FROM fleet.deployments WHERE $1 = ANY(servers) AND healthy_at IS NOT NULL AND outputs ? 'hosts' ORDER BY healthy_at DESC LIMIT 1",
      [server],
    );
    return rows[0]?.host ?? undefined;
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

  private async insertDeployment(d: Record<string, unknown>) {
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

  private async enqueue(id: number, stack: string, runAt?: Date) {
    await this.utils!.addJob(
      "deploy",
      { deploymentId: id },
      { queueName: `stack:${stack}`, maxAttempts: 1, runAt, jobKey: `deployment-${id}`, jobKeyMode: "replace" },
    );
  }

  /**
   * What a rollback deploys: the earlier deployment's template and variables (version, image, env),
   * rendered onto its servers as they are registered today, so a server's new host keys or a
   * replacement in progress are kept, not undone.
   */
  private async rollbackConfig(target: Deployment): Promise<Record<string, unknown>> {
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
    const target = await this.getDeployment(targetId);
    if (!target) throw new InputError([`deployment ${targetId} does not exist`], 404);
    if (!target.healthy_at)
      throw new InputError(
        [`deployment ${targetId} never deployed successfully; roll back to one that did (status deployed)`],
        409,
      );
    const current = await this.currentDeployment(target.stack);
    const config = await this.rollbackConfig(target);
    const row = await this.insertDeployment({
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
    await this.audit(actor, "deployment.rollback", `${target.stack}#${row.id}`, {
      to: targetId,
      version: target.version,
    });
    this.event(
      row.id,
      "status",
      `rollback to deployment ${targetId} (version ${target.version}) queued by ${actor.name}`,
    );
    await this.enqueue(row.id, target.stack);
    return row;
  }

  async cancel(actor: Actor, id: number) {
    const d = await this.getDeployment(id);
    if (!d) throw new InputError([`deployment ${id} does not exist`], 404);
    if (d.status === "pending") {
      const { rowCount } = await this.db.query(
        "UPDATE fleet.deployments SET status = 'cancelled', finished_at = now(), cancel_requested_by = $2 WHERE id = $1 AND status = 'pending'",
        [id, actor.name],
      );
      if (rowCount) {
        await this.utils!.withPgClient((c) =>
          c.query("SELECT graphile_worker.remove_job($1)", [`deployment-${id}`]),
        ).catch(() => undefined);
        this.event(id, "status", `cancelled by ${actor.name} before it started`);
        await this.audit(actor, "deployment.cancel", `${d.stack}#${id}`);
        return;
      }
    }
    const { rowCount } = await this.db.query(
      "UPDATE fleet.deployments SET cancel_requested_by = $2 WHERE id = $1 AND status = 'deploying'",
      [id, actor.name],
    );
    if (!rowCount)
      throw new InputError([`deployment ${id} is ${d.status}; only pending or deploying ones can be cancelled`], 409);
    this.event(id, "status", `cancel requested by ${actor.name}`);
    await this.audit(actor, "deployment.cancel", `${d.stack}#${id}`);
  }

  async removeDeployment(actor: Actor, id: number) {
    const { rowCount } = await this.db.query(
      "UPDATE fleet.deployments SET deleted_at = now(), deleted_by = $2 WHERE id = $1 AND deleted_at IS NULL AND status NOT IN ('pending', 'deploying')",
      [id, actor.name],
    );
    if (!rowCount)
      throw new InputError([`deployment ${id} does not exist, is already hidden, or is still running`], 409);
    await this.audit(actor, "deployment.hide", String(id));
  }

  async getDeployment(id: number) {
    const { rows } = await this.db.query("SELECT * FROM fleet.deployments WHERE id = $1", [id]);
    return rows[0] ? present(rows[0]) : undefined;
  }

  async listDeployments(filter: {
    server?: string;
    app?: string;
    environment?: string;
    status?: string;
    limit?: number;
  }) {
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

  async events(id: number, after = 0) {
    const { rows } = await this.db.query(
      "SELECT id, at, kind, message, data FROM fleet.events WHERE deployment_id = $1 AND id > $2 ORDER BY id LIMIT 1000",
      [id, after],
    );
    return rows.map((r) => ({ ...r, id: Number(r.id) }));
  }

  async listAudit(limit = 100) {
    const { rows } = await this.db.query("SELECT * FROM fleet.audit ORDER BY id DESC LIMIT $1", [limit]);
    return rows;
  }

  private async currentDeployment(stack: string) {
    const { rows } = await this.db.query(
      "SELECT * FROM fleet.deployments WHERE stack = $1 AND healthy_at IS NOT NULL AND status = 'deployed' ORDER BY healthy_at DESC LIMIT 1",
      [stack],
    );
    return rows[0];
  }

  // ---------------------------------------------------------------- running

  /**
   * Runs `fn` on the app's stack with its settings file (Pulumi.<stack>.yaml: plain config and
   * secure ciphertext) restored from the records first and saved back after, so any worker can
   * run any stack. Writers of one stack take turns: in this process by a promise chain, across
   * processes by a PostgreSQL advisory lock (an embedded store has one process only). No
   * transaction stays open meanwhile: the embedded store is a single session.
   */
  private async withStack<T>(name: string, fn: (stack: Stack) => Promise<T>): Promise<T> {
    const previous = this.stackTurns.get(name) ?? Promise.resolve();
    let done!: () => void;
    const turn = new Promise<void>((r) => (done = r));
    const chained = previous.then(() => turn);
    this.stackTurns.set(name, chained);
    await previous;
    const client = this.opts.store.kind === "postgres" ? await this.db.connect() : undefined;
    const file = path.join(this.opts.engine.opts.workDir, `Pulumi.${name}.yaml`);
    try {
      await client?.query("SELECT pg_advisory_lock(4242002, hashtext($1))", [name]);
      const { rows } = await this.db.query("SELECT settings FROM fleet.stacks WHERE name = $1", [name]);
      if (rows[0]?.settings) fs.writeFileSync(file, rows[0].settings);
      else fs.rmSync(file, { force: true });
      const stack = await this.opts.engine.stack(name);
      const result = await fn(stack);
      const settings = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : null;
      await this.db.query("UPDATE fleet.stacks SET settings = $2 WHERE name = $1", [name, settings]);
      return result;
    } finally {
      await client?.query("SELECT pg_advisory_unlock(4242002, hashtext($1))", [name]).catch(() => undefined);
      client?.release();
      done();
      if (this.stackTurns.get(name) === chained) this.stackTurns.delete(name);
    }
  }

  private async runJob(id: number, helpers: JobHelpers) {
    const d = await this.getDeployment(id);
    if (!d || d.status !== "pending") return;
    if (d.maintenance_window) {
      const w = d.maintenance_window as { cron: string; durationMinutes: number };
      const opened = previousWindowStart(w, new Date());
      if (!opened || Date.now() > opened.getTime() + w.durationMinutes * 60_000) {
        const next = nextWindowStart(w, new Date());
        this.event(id, "status", `missed its maintenance window; rescheduled for ${next.toISOString()}`);
        await this.db.query("UPDATE fleet.deployments SET scheduled_at = $2 WHERE id = $1", [id, next]);
        await this.utils!.addJob(
          "deploy",
          { deploymentId: id },
          { queueName: `stack:${d.stack}`, maxAttempts: 1, runAt: next, jobKey: `deployment-${id}-${next.getTime()}` },
        );
        return;
      }
    }
    const { rowCount } = await this.db.query(
      "UPDATE fleet.deployments SET status = 'deploying', started_at = now(), worker = $2, queue_worker = $3 WHERE id = $1 AND status = 'pending'",
      [id, this.workerId, helpers.job.locked_by],
    );
    if (!rowCount) return;
    this.event(id, "status", `deploying on worker ${this.workerId}`);
    await this.flushEvents();
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
      const stack = await this.withStack(d.stack, async (s) => {
        // Only what differs from the stack's settings is written; berth: keys the deployment no
        // longer has are removed (the stack's secrets stay).
        const plain = engineConfig(d.config);
        const current = await this.configured(d.stack);
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
      await this.finish(id, "deployed", null, true);
      if (d.rollback_of)
        await this.db.query("UPDATE fleet.deployments SET status = 'rolled_back' WHERE id = $1", [d.rollback_of]);
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
      await this.flushEvents();
    }
  }

  /** The config the stack's settings file holds, as written there. */
  private async configured(stack: string): Promise<Record<string, unknown>> {
    const { rows } = await this.db.query("SELECT settings FROM fleet.stacks WHERE name = $1", [stack]);
    if (!rows[0]?.settings) return {};
    return (parseYaml(rows[0].settings) as { config?: Record<string, unknown> })?.config ?? {};
  }

  private async finish(id: number, status: string, error: string | null, healthy = false) {
    await this.db.query(
      `UPDATE fleet.deployments SET status = $2, error = $3, finished_at = now(), healthy_at = CASE WHEN $4 THEN now() ELSE healthy_at END WHERE id = $1`,
      [id, status, error, healthy],
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
      config = await this.rollbackConfig(good);
    } catch (err) {
      this.event(failed.id, "status", `cannot roll back automatically: ${errorText(err)}`);
      return;
    }
    const row = await this.insertDeployment({
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
    await this.audit("fleet (automatic rollback)", "deployment.rollback", `${good.stack}#${row.id}`, {
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
      if (r.queue_worker) await this.utils!.forceUnlockWorkers([r.queue_worker]);
      try {
        const note = await this.withStack(r.stack, (s) => this.opts.engine.releaseLock(s));
        this.event(
          r.id,
          "status",
          `recovered by worker ${this.workerId}: ${note}; the next deploy refreshes the stack first`,
        );
      } catch (err) {
        this.event(r.id, "status", `could not release the stack's lock: ${errorText(err)}`);
      }
      await this.audit(`fleet worker ${this.workerId}`, "deployment.interrupted", `${r.stack}#${r.id}`, {
        worker: r.worker,
      });
      await this.flushEvents();
    }
  }
}

export type Deployment = ReturnType<typeof present>;

function present(row: Record<string, any>) {
  const started = row.started_at ? new Date(row.started_at).getTime() : undefined;
  const finished = row.finished_at ? new Date(row.finished_at).getTime() : undefined;
  return {
    ...row,
    id: Number(row.id),
    rollback_of: row.rollback_of === null || row.rollback_of === undefined ? null : Number(row.rollback_of),
    variables: (row.variables ?? {}) as Record<string, unknown>,
    config: (row.config ?? {}) as Record<string, unknown>,
    duration_ms: started && finished ? finished - started : null,
  } as unknown as Record<string, any> & {
    id: number;
    stack: string;
    app: string;
    environment: string;
    template: string;
    kind: string;
    version: string;
    image: string;
    status: string;
    actor: string;
    servers: string[];
    rollback_of: number | null;
    variables: Record<string, unknown>;
    config: Record<string, unknown>;
  };
}

function hashToken(token: string): string {
  return crypto.createHash("sha256").update(token).digest("hex");
}

function errorText(err: unknown): string {
  const text = String((err as Error)?.message ?? err);
  // The Automation API's CommandError carries the whole stderr; keep its error lines.
  const lines = text.split("\n").filter((l) => /error:/i.test(l));
  return (lines.length ? lines.join(" ") : text).replace(/\s+/g, " ").trim().slice(0, 500);
}

export function nextWindowStart(w: { cron: string }, after: Date): Date {
  return CronExpressionParser.parse(w.cron, { tz: "UTC", currentDate: after }).next().toDate();
}

function previousWindowStart(w: { cron: string }, at: Date): Date | undefined {
  try {
    return CronExpressionParser.parse(w.cron, { tz: "UTC", currentDate: new Date(at.getTime() + 1000) })
      .prev()
      .toDate();
  } catch {
    return undefined;
  }
}

export { FleetSetupError };
