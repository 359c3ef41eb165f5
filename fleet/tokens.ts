// API tokens: only their hashes are kept; each has a role, and revoking one is audited.
import * as crypto from "node:crypto";
import { Records } from "./records";
import { Actor, Role, ROLES } from "./requests";
import { InputError } from "./templates";

export class Tokens {
  private cache = new Map<string, { actor: Actor; until: number }>();

  constructor(private readonly records: Records) {}

  private get db() {
    return this.records.db;
  }

  async create(by: Actor | string, name: string, role: Role): Promise<string> {
    if (!ROLES.includes(role)) throw new InputError([`role: must be one of ${ROLES.join(", ")}`]);
    const token = `bft_${crypto.randomBytes(24).toString("base64url")}`;
    await this.db.query("INSERT INTO fleet.tokens (name, role, hash, created_by) VALUES ($1, $2, $3, $4)", [
      name,
      role,
      hashToken(token),
      typeof by === "string" ? by : by.name,
    ]);
    await this.records.audit(by, "token.create", name, { role });
    return token;
  }

  /**
   * The first admin token, when none exists yet. Services starting at once on one PostgreSQL
   * server take turns (an advisory lock), so only one of them makes it.
   */
  async bootstrap(): Promise<string | undefined> {
    const client = this.records.store.kind === "postgres" ? await this.db.connect() : undefined;
    try {
      await client?.query("SELECT pg_advisory_lock(4242003)");
      const { rows } = await this.db.query("SELECT count(*)::int AS n FROM fleet.tokens WHERE revoked_at IS NULL");
      if (rows[0].n > 0) return undefined;
      return await this.create("berth fleet serve", "admin", "admin");
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
    const known = this.cache.get(hash);
    if (known && known.until > Date.now()) return known.actor;
    const { rows } = await this.db.query("SELECT name, role FROM fleet.tokens WHERE hash = $1 AND revoked_at IS NULL", [
      hash,
    ]);
    const actor: Actor | undefined = rows[0] ? { name: rows[0].name, role: rows[0].role } : undefined;
    if (actor) this.cache.set(hash, { actor, until: Date.now() + 5000 });
    return actor;
  }

  async list() {
    const { rows } = await this.db.query(
      "SELECT id, name, role, created_by, created_at, revoked_at FROM fleet.tokens ORDER BY id",
    );
    return rows;
  }

  async revoke(actor: Actor, id: number) {
    await this.db.query("UPDATE fleet.tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", [id]);
    this.cache.clear();
    await this.records.audit(actor, "token.revoke", String(id));
  }
}

function hashToken(token: string): string {
  return crypto.createHash("sha256").update(token).digest("hex");
}
