// The Pulumi stacks of the fleet's apps: their settings kept in the records, so any worker can run
// any stack, and the turns their writers take.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Stack } from "@pulumi/pulumi/automation";
import { parse as parseYaml } from "yaml";
import { FINGERPRINT_KEY } from "../config/schema";
import { Engine } from "./engine";
import { Records } from "./records";

export class Stacks {
  private turns = new Map<string, Promise<void>>();

  constructor(
    private readonly records: Records,
    private readonly engine: Engine,
  ) {}

  private get db() {
    return this.records.db;
  }

  /**
   * Runs `fn` on the app's stack with its settings file (Pulumi.<stack>.yaml: plain config and
   * secure ciphertext) restored from the records first and saved back after, so any worker can
   * run any stack. Writers of one stack take turns: in this process by a promise chain, across
   * processes by a PostgreSQL advisory lock (an embedded store has one process only). No
   * transaction stays open meanwhile: the embedded store is a single session.
   */
  async with<T>(name: string, fn: (stack: Stack) => Promise<T>): Promise<T> {
    const previous = this.turns.get(name) ?? Promise.resolve();
    let done!: () => void;
    const turn = new Promise<void>((r) => (done = r));
    const chained = previous.then(() => turn);
    this.turns.set(name, chained);
    await previous;
    const client = this.records.store.kind === "postgres" ? await this.db.connect() : undefined;
    const file = path.join(this.engine.opts.workDir, `Pulumi.${name}.yaml`);
    try {
      await client?.query("SELECT pg_advisory_lock(4242002, hashtext($1))", [name]);
      const { rows } = await this.db.query("SELECT settings FROM fleet.stacks WHERE name = $1", [name]);
      if (rows[0]?.settings) fs.writeFileSync(file, rows[0].settings);
      else fs.rmSync(file, { force: true });
      const stack = await this.engine.stack(name);
      const result = await fn(stack);
      const settings = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : null;
      await this.db.query("UPDATE fleet.stacks SET settings = $2 WHERE name = $1", [name, settings]);
      return result;
    } finally {
      await client?.query("SELECT pg_advisory_unlock(4242002, hashtext($1))", [name]).catch(() => undefined);
      client?.release();
      done();
      if (this.turns.get(name) === chained) this.turns.delete(name);
    }
  }

  /** The config the stack's settings file holds, as written there. */
  async configured(stack: string): Promise<Record<string, unknown>> {
    const { rows } = await this.db.query("SELECT settings FROM fleet.stacks WHERE name = $1", [stack]);
    if (!rows[0]?.settings) return {};
    return (parseYaml(rows[0].settings) as { config?: Record<string, unknown> })?.config ?? {};
  }

  /**
   * Secrets go straight into the stack's config as Pulumi secrets; only their names are recorded.
   * Before the stack's first deploy the fleet adds the key of its container fingerprints (berth
   * names app containers after a keyed fingerprint of what they run, config/stack.ts): random,
   * drawn once, kept as a secret of the stack and reused by every later deploy. It is looked for
   * while holding the stack's turn, so two first deploys never draw two keys.
   */
  async storeSecrets(stack: string, given: Record<string, string>) {
    await this.with(stack, async (s) => {
      const { rows } = await this.db.query("SELECT secret_names FROM fleet.stacks WHERE name = $1", [stack]);
      const values = { ...given };
      if (!(rows[0]?.secret_names ?? []).includes(FINGERPRINT_KEY))
        values[FINGERPRINT_KEY] = crypto.randomBytes(32).toString("hex");
      if (Object.keys(values).length === 0) return;
      await this.engine.applyConfig(
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
}
