// A real PostgreSQL server from Debian for the fleet tests and benchmark: initdb on a temp directory, listening
// on a unix socket only, as the `postgres` user when run as root (initdb refuses root), stopped after.
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const INSTALL = "apt-get install -y postgresql";

function binDir(): string {
  const root = "/usr/lib/postgresql";
  const versions = fs.existsSync(root) ? fs.readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (fs.existsSync(path.join(root, v, "bin", "initdb"))) return path.join(root, v, "bin");
  throw new Error(`PostgreSQL server binaries not found under ${root}; install them with: ${INSTALL}`);
}

export interface Postgres {
  url: string;
  stop(): Promise<void>;
}

export async function startPostgres(): Promise<Postgres> {
  const bin = binDir();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-fleet-pg-"));
  fs.chmodSync(dir, 0o755);
  const data = path.join(dir, "data");
  // initdb refuses to run as root: as root, the server runs as the postgres user. Node starts it
  // with that user's ids itself, so the child is the server, and a signal reaches it directly.
  let ids: { uid: number; gid: number } | undefined;
  if (process.getuid?.() === 0) {
    try {
      ids = {
        uid: Number(execFileSync("id", ["-u", "postgres"]).toString()),
        gid: Number(execFileSync("id", ["-g", "postgres"]).toString()),
      };
    } catch {
      throw new Error(`no postgres user to run the server as; install the server with: ${INSTALL}`);
    }
    fs.mkdirSync(data);
    fs.chownSync(dir, ids.uid, ids.gid);
    fs.chownSync(data, ids.uid, ids.gid);
  }
  execFileSync(path.join(bin, "initdb"), ["-D", data, "-A", "trust", "-U", "fleet", "--no-sync"], {
    stdio: "ignore",
    timeout: 60_000,
    ...ids,
  });
  const child: ChildProcess = spawn(
    path.join(bin, "postgres"),
    ["-D", data, "-k", dir, "-c", "listen_addresses=", "-c", "fsync=off", "-c", "max_connections=100"],
    { stdio: ["ignore", "ignore", "pipe"], ...ids },
  );
  let log = "";
  child.stderr?.on("data", (d) => (log += d));
  const socket = path.join(dir, ".s.PGSQL.5432");
  const deadline = Date.now() + 20_000;
  while (!/ready to accept connections/.test(log)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`postgres did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  if (!fs.existsSync(socket)) throw new Error(`postgres started without its socket ${socket}:\n${log}`);
  return {
    url: `postgresql://fleet@localhost/postgres?host=${encodeURIComponent(dir)}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        // Fast shutdown: clients are disconnected, nothing kept (the data directory is thrown away).
        child.kill("SIGINT");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
