// Where the fleet keeps its records and its job queue: a PostgreSQL server for teams, or, by
// default, an embedded PostgreSQL (PGlite, persisted in the data directory) served on a unix
// socket of that directory. Both are reached through the same `pg` pool with the same SQL, and
// graphile-worker runs its queue on either.
import * as fs from "node:fs";
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import { Pool } from "pg";

export interface Store {
  kind: "embedded" | "postgres";
  /** For graphile-worker and the records pool. */
  connectionString: string;
  pool: Pool;
  close(): Promise<void>;
}

/** A mistake in how the service was started: printed as it is, without a stack trace. */
export class FleetSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FleetSetupError";
  }
}

export async function openStore(opts: {
  databaseUrl?: string;
  dataDir: string;
  /** The URL is an embedded store's socket, served by another process (a worker's view of it). */
  embeddedUrl?: boolean;
}): Promise<Store> {
  if (opts.databaseUrl) {
    const pool = new Pool({ connectionString: opts.databaseUrl, max: 10 });
    pool.on("error", () => undefined);
    try {
      await pool.query("SELECT 1");
    } catch (err) {
      await pool.end();
      throw new FleetSetupError(
        `cannot reach the PostgreSQL server of --database: ${(err as Error).message}. Check the URL, or leave --database out to use the embedded store.`,
      );
    }
    await migrate(pool);
    return {
      kind: opts.embeddedUrl ? "embedded" : "postgres",
      connectionString: opts.databaseUrl,
      pool,
      close: () => pool.end(),
    };
  }
  return openEmbedded(opts.dataDir);
}

async function openEmbedded(dataDir: string): Promise<Store> {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // One process owns an embedded store: PGlite is a single database session.
  const lock = path.join(dataDir, "fleet.pid");
  try {
    fs.writeFileSync(lock, String(process.pid), { flag: "wx" });
  } catch {
    const pid = Number(fs.readFileSync(lock, "utf8"));
    if (pid && pid !== process.pid && alive(pid))
      throw new FleetSetupError(
        `another berth fleet (pid ${pid}) is using ${dataDir}. Stop it, use another --data-dir, or run several workers on a PostgreSQL server (--database).`,
      );
    fs.writeFileSync(lock, String(process.pid));
  }
  const socketDir = path.join(dataDir, "socket");
  fs.mkdirSync(socketDir, { recursive: true, mode: 0o700 });
  const socket = path.join(socketDir, ".s.PGSQL.5432");
  fs.rmSync(socket, { force: true });
  const worker = new Worker(path.join(__dirname, "embedded-db.cjs"), { workerData: { dataDir, socket } });
  const answer = () =>
    new Promise<unknown>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
  const ready = await answer();
  if (ready !== "ready") {
    await worker.terminate();
    fs.rmSync(lock, { force: true });
    throw new FleetSetupError(`the embedded store in ${dataDir} did not open: ${JSON.stringify(ready)}`);
  }
  const connectionString = `postgresql://postgres@localhost/postgres?host=${encodeURIComponent(socketDir)}`;
  const pool = new Pool({ connectionString, max: 8 });
  pool.on("error", () => undefined);
  await migrate(pool);
  return {
    kind: "embedded",
    connectionString,
    pool,
    async close() {
      await pool.end();
      const closed = answer();
      worker.postMessage("close");
      await closed;
      await worker.terminate();
      fs.rmSync(lock, { force: true });
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The records' tables. Rows are never deleted: `deleted_at` marks what a user removed. */
const SCHEMA = `
CREATE SCHEMA IF NOT EXISTS fleet;
CREATE TABLE IF NOT EXISTS fleet.servers (
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  kind text NOT NULL,
  address text,
  ipv6 text,
  private_address text,
  host_keys text[] NOT NULL DEFAULT '{}',
  server_type text,
  location text,
  hetzner_key_name text,
  replace text,
  ssh_user text NOT NULL,
  ssh_port int NOT NULL,
  ssh_public_key text NOT NULL,
  maintenance_window jsonb,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  deleted_by text
);
CREATE UNIQUE INDEX IF NOT EXISTS servers_live_name ON fleet.servers (name) WHERE deleted_at IS NULL;
CREATE TABLE IF NOT EXISTS fleet.stacks (
  name text PRIMARY KEY,
  app text NOT NULL,
  environment text NOT NULL,
  settings text,
  secret_names text[] NOT NULL DEFAULT '{}',
  needs_refresh boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS fleet.deployments (
  id bigserial PRIMARY KEY,
  stack text NOT NULL,
  app text NOT NULL,
  environment text NOT NULL,
  template text NOT NULL,
  kind text NOT NULL,
  version text NOT NULL,
  image text NOT NULL,
  status text NOT NULL,
  actor text NOT NULL,
  servers text[] NOT NULL,
  variables jsonb NOT NULL,
  config jsonb NOT NULL,
  rollback_of bigint,
  scheduled_at timestamptz,
  maintenance_window jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  healthy_at timestamptz,
  error text,
  worker text,
  queue_worker text,
  update_version int,
  outputs jsonb,
  cancel_requested_by text,
  deleted_at timestamptz,
  deleted_by text
);
CREATE INDEX IF NOT EXISTS deployments_stack ON fleet.deployments (stack, id);
CREATE INDEX IF NOT EXISTS deployments_app ON fleet.deployments (app, environment, version);
CREATE INDEX IF NOT EXISTS deployments_status ON fleet.deployments (status);
CREATE TABLE IF NOT EXISTS fleet.events (
  id bigserial PRIMARY KEY,
  deployment_id bigint NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  kind text NOT NULL,
  message text NOT NULL,
  data jsonb
);
CREATE INDEX IF NOT EXISTS events_deployment ON fleet.events (deployment_id, id);
CREATE TABLE IF NOT EXISTS fleet.tokens (
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  role text NOT NULL,
  hash text NOT NULL UNIQUE,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE TABLE IF NOT EXISTS fleet.audit (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT now(),
  actor text NOT NULL,
  action text NOT NULL,
  target text NOT NULL,
  detail jsonb
);
CREATE TABLE IF NOT EXISTS fleet.workers (
  id text PRIMARY KEY,
  host text NOT NULL,
  pid int NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  stopped_at timestamptz
);
`;

async function migrate(pool: Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    // Several workers may start at once against one server: one migrates, the others wait.
    await client.query("SELECT pg_advisory_xact_lock(4242001)");
    await client.query(SCHEMA);
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
