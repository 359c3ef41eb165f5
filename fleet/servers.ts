// The fleet's registered servers, and what makes one valid: berth's own host rules.
import { ConfigError, parseConfig } from "../config/load";
import { hostKeyScan, hostKeysHelp } from "../config/schema";
import { Records } from "./records";
import { Actor, checkRequest, serverInputSchema, serverUpdateSchema } from "./requests";
import { InputError, ServerRef } from "./templates";

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

export class Servers {
  constructor(private readonly records: Records) {}

  private get db() {
    return this.records.db;
  }

  async register(actor: Actor, input: unknown) {
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
      await this.records.audit(actor, "server.register", s.name, { kind: s.kind });
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
  async update(actor: Actor, name: string, input: unknown) {
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
    await this.records.audit(actor, "server.update", name, u);
    return updated.rows[0];
  }

  async list() {
    const { rows } = await this.db.query(
      `SELECT s.*, (SELECT count(*)::int FROM fleet.deployments d WHERE s.name = ANY(d.servers) AND d.deleted_at IS NULL) AS deployments,
              (SELECT d.outputs->'hosts'->s.name FROM fleet.deployments d
                WHERE s.name = ANY(d.servers) AND d.healthy_at IS NOT NULL AND d.outputs ? 'hosts'
                ORDER BY d.healthy_at DESC LIMIT 1) AS deployed
       FROM fleet.servers s WHERE s.deleted_at IS NULL ORDER BY s.name`,
    );
    return rows;
  }

  async remove(actor: Actor, name: string) {
    const { rowCount } = await this.db.query(
      "UPDATE fleet.servers SET deleted_at = now(), deleted_by = $2 WHERE name = $1 AND deleted_at IS NULL",
      [name, actor.name],
    );
    if (!rowCount) throw new InputError([`server "${name}" is not registered`], 404);
    await this.records.audit(actor, "server.remove", name);
  }

  /** The registered servers of these names, in their order, or a problem for each unknown one. */
  async find(names: string[]): Promise<ServerRef[]> {
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

  /** What the newest healthy deployment on a server learned of it (address, host key), from its stack's outputs. */
  async deployed(server: string): Promise<{ ipv4?: string; hostKey?: string } | undefined> {
    const { rows } = await this.db.query(
      "SELECT outputs->'hosts'->$1 AS host FROM fleet.deployments WHERE $1 = ANY(servers) AND healthy_at IS NOT NULL AND outputs ? 'hosts' ORDER BY healthy_at DESC LIMIT 1",
      [server],
    );
    return rows[0]?.host ?? undefined;
  }
}
