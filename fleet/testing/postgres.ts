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
  const asRoot = process.getuid?.() === 0;
  const run = (file: string, args: string[]) =>
    (asRoot ? ["runuser", ["-u", "postgres", "--", file, ...args]] : [file, args]) as [string, string[]];
  if (asRoot) {
    try {
      execFileSync("id", ["postgres"], { stdio: "ignore" });
    } catch {
      throw new Error(`no postgres user to run the server as; install the server with: ${INSTALL}`);
    }
    fs.mkdirSync(data);
    execFileSync("chown", ["-R", "postgres", dir]);
  }
  const [initdb, initArgs] = run(path.join(bin, "initdb"), ["-D", data, "-A", "trust", "-U", "fleet", "--no-sync"]);
  execFileSync(initdb, initArgs, { stdio: "ignore", timeout: 60_000 });
  const [postgres, args] = run(path.join(bin, "postgres"), [
    "-D",
    data,
    "-k",
    dir,
    "-c",
    "listen_addresses=",
    "-c",
    "fsync=off",
    "-c",
    "max_connections=100",
  ]);
  const child: ChildProcess = spawn(postgres, args, { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr?.on("data", (d) => (log += d));
  const socket = path.join(dir, ".s.PGSQL.5432");
  const deadline = Date.now() + 20_000;
  while (!fs.existsSync(socket)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`postgres did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 200));
  return {
    url: `postgresql://fleet@localhost/postgres?host=${encodeURIComponent(dir)}`,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGINT");
        await Promise.race([new Promise((r) => child.once("exit", r)), new Promise((r) => setTimeout(r, 10_000))]);
        if (child.exitCode === null) child.kill("SIGKILL");
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
