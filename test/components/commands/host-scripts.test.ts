// The scripts berth runs on a host, and the ssh options of its docker provider, run for real: over ssh into a loopback sshd whose sessions
// reach a loopback dockerd (test/support/loopback.ts), the way the command provider runs them.
// Postgres is Debian's own (postgresql, installed by .ci/run), started here as the postgres user
// on a temp dir and a free port; its client programs (psql, pg_dump) run inside a container the
// scripts `docker exec` into, talking to that server over its Unix socket. What this assumes of
// the postgres image: its superuser is POSTGRES_USER and local socket connections are trusted
// (docker-library/postgres docker-entrypoint.sh: initdb without --auth-local), as set up here.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { directoriesScript, fstabEntry, mountScript, writeFileScript } from "../../../components/commands/host";
import {
  postgresBackupScript,
  postgresPasswordScript,
  postgresPasswordStdin,
} from "../../../components/commands/accessory";
import { dockerSshOptions, knownHostsLine, writeIdentityFile } from "../../../components/ssh";
import { freePort, Loopback, startLoopback, tool } from "../../support/loopback";

function postgresBin(name: string): string {
  const found = spawnSync("sh", ["-c", `ls /usr/lib/postgresql/*/bin/${name} | sort -V | tail -n 1`], {
    encoding: "utf8",
  }).stdout.trim();
  assert.ok(found, `${name} not found; run: apt-get install -y postgresql`);
  return found;
}

const asPostgres = (file: string, args: string[]) =>
  execFileSync(tool("runuser", "util-linux"), ["-u", "postgres", "--", file, ...args], {
    encoding: "utf8",
    timeout: 60_000,
  });

/** A Postgres server as the postgres image would leave it: superuser `shop`, database `shop`. */
async function startPostgres(dir: string, password: string) {
  fs.mkdirSync(dir, { recursive: true });
  const sock = path.join(dir, "sock");
  fs.mkdirSync(sock);
  fs.writeFileSync(path.join(dir, "pw"), `${password}\n`);
  execFileSync("chown", ["-R", "postgres", dir]);
  asPostgres(postgresBin("initdb"), [
    "-D",
    `${dir}/data`,
    "-U",
    "shop",
    `--pwfile=${dir}/pw`,
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
  ]);
  fs.rmSync(path.join(dir, "pw"));
  const port = await freePort();
  asPostgres(postgresBin("pg_ctl"), [
    "-D",
    `${dir}/data`,
    "-l",
    `${dir}/server.log`,
    "-w",
    "-o",
    // Every statement is logged, so a test can show a password never reaches the server in clear.
    `-k ${sock} -p ${port} -c listen_addresses=127.0.0.1 -c log_statement=all`,
    "start",
  ]);
  const psql = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(postgresBin("psql"), ["-X", "-h", "127.0.0.1", "-p", String(port), ...args], {
      encoding: "utf8",
      env: { ...process.env, ...env },
      timeout: 30_000,
    });
  const login = (pw: string) =>
    psql(["-U", "shop", "-d", "shop", "-Atc", "select 1"], { PGPASSWORD: pw, PGCONNECT_TIMEOUT: "5" });
  return {
    sock,
    port,
    log: () => fs.readFileSync(path.join(dir, "server.log"), "utf8"),
    login,
    createDatabase: () => asPostgres(postgresBin("createdb"), ["-h", sock, "-p", String(port), "-U", "shop", "shop"]),
    sql: (sql: string) =>
      asPostgres(postgresBin("psql"), ["-X", "-h", sock, "-p", String(port), "-U", "shop", "-d", "shop", "-c", sql]),
    stop: () => asPostgres(postgresBin("pg_ctl"), ["-D", `${dir}/data`, "-m", "fast", "-w", "stop"]),
  };
}

describe("postgres scripts on a real host", { timeout: 300_000 }, () => {
  let host: Loopback;
  let pg: Awaited<ReturnType<typeof startPostgres>>;
  const PASSWORD = "first p@ss'word";
  before(async () => {
    host = await startLoopback();
    // The postgres user must reach its directory inside the test's private one.
    fs.chmodSync(host.tmp, 0o711);
    pg = await startPostgres(path.join(host.tmp, "pg"), PASSWORD);
    pg.createDatabase();
    pg.sql("CREATE TABLE things (id int primary key, name text); INSERT INTO things VALUES (1, 'one');");
    host.buildImage(
      "berth-pg:1",
      { "/usr/bin/psql": postgresBin("psql"), "/usr/bin/pg_dump": postgresBin("pg_dump") },
      { "/etc/passwd": "root:x:0:0:root:/root:/bin/sh\n" },
    );
    // The database container of the stack: the scripts exec psql and pg_dump in it.
    host.docker([
      "run",
      "-d",
      "--name",
      "shop-db",
      "--network",
      "none",
      "-e",
      `PGPORT=${pg.port}`,
      "-v",
      `${pg.sock}:/var/run/postgresql`,
      "berth-pg:1",
      "sleep",
      "3600",
    ]);
    // A stand-in whose pg_dump succeeds without writing anything.
    host.buildImage("berth-empty-dump:1", {}, { "/usr/bin/pg_dump": "#!/bin/sh\nexit 0\n" });
    host.docker(["run", "-d", "--name", "empty-db", "--network", "none", "berth-empty-dump:1", "sleep", "3600"]);
  });
  after(async () => {
    pg?.stop();
    await host?.stop();
  });

  const backup = (label: string, opts: { container?: string; user?: string; keep?: number } = {}) =>
    host.run(
      postgresBackupScript({
        container: opts.container ?? "shop-db",
        user: opts.user ?? "shop",
        database: "shop",
        dir: path.join(host.tmp, "backups"),
        label,
        keep: opts.keep ?? 2,
      }),
    );
  const backups = () =>
    fs.existsSync(path.join(host.tmp, "backups")) ? fs.readdirSync(path.join(host.tmp, "backups")).sort() : [];

  it("backs up with pg_dump into a custom-format archive, keeping the newest N", () => {
    for (const label of ["v1", "v2", "v3"]) {
      const r = backup(label);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /berth: database backed up to .*\/shop-v\d-\d{8}T\d{6}Z\.dump/);
    }
    const files = backups();
    assert.deepEqual(
      files.map((f) => f.replace(/-\d{8}T\d{6}Z/, "")),
      ["shop-v2.dump", "shop-v3.dump"],
      "keep 2: the oldest is gone",
    );
    const list = execFileSync(postgresBin("pg_restore"), ["--list", path.join(host.tmp, "backups", files[1])], {
      encoding: "utf8",
    });
    assert.match(list, /TABLE public things shop/, "a real dump of the database");
  });

  it("a failing pg_dump stops the deploy and keeps every good backup", () => {
    const before = backups();
    // The real pg_dump, failing: the role does not exist. keep 1 would delete a good backup if the
    // failed one were counted.
    const r = backup("v4", { user: "nobody", keep: 1 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /role "nobody" does not exist/);
    assert.match(r.stderr, /berth: pg_dump of shop in shop-db failed \(exit 1\); the deploy stops/);
    assert.deepEqual(backups(), before, "no new file, no good backup deleted");
  });

  it("a pg_dump that writes nothing is not a backup either", () => {
    const before = backups();
    const r = backup("v5", { container: "empty-db", keep: 1 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /wrote nothing; the deploy stops/);
    assert.deepEqual(backups(), before);
  });

  it("rotating the password changes the role's password in the running database, never in clear", () => {
    assert.equal(pg.login(PASSWORD).stdout.trim(), "1", "the first password works");
    const next = "second p@ss'word \\ $(whoami)";
    const script = postgresPasswordScript("shop-db", "shop", "shop");
    assert.ok(!script.includes(next));
    const r = host.run(script, postgresPasswordStdin(next));
    assert.equal(r.status, 0, r.stderr);
    assert.equal(pg.login(next).stdout.trim(), "1", "the new password works");
    const old = pg.login(PASSWORD);
    assert.notEqual(old.status, 0);
    assert.match(old.stderr, /password authentication failed/);
    const log = pg.log();
    assert.match(log, /ALTER USER shop PASSWORD 'SCRAM-SHA-256\$/, "the server received only a SCRAM hash");
    assert.ok(!log.includes("second p@ss"), "the password is in no statement and no log line");
    // Running it again with the same password changes nothing a user would notice.
    assert.equal(host.run(script, postgresPasswordStdin(next)).status, 0);
    assert.equal(pg.login(next).stdout.trim(), "1");
  });

  it("writes the password file from stdin, readable by root only", () => {
    const file = path.join(host.tmp, "files", "run", "secrets", "postgres-password");
    const r = host.run(writeFileScript(file, "0600"), "s3cret'\n");
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.readFileSync(file, "utf8"), "s3cret'\n");
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  });
});

describe("volume mount on a real host", { timeout: 180_000 }, () => {
  let host: Loopback;
  let loop = "";
  let device = "";
  let mnt = "";
  before(async () => {
    host = await startLoopback({ privateEtc: true });
    const image = path.join(host.tmp, "volume.img");
    fs.writeFileSync(image, "");
    fs.truncateSync(image, 16 * 1024 * 1024);
    execFileSync(tool("mkfs.ext4", "e2fsprogs"), ["-q", "-F", image]);
    loop = execFileSync(tool("losetup", "mount"), ["--find", "--show", image], { encoding: "utf8" }).trim();
    // The by-id link Hetzner's udev rules create, pointing at the loop device.
    fs.mkdirSync(path.join(host.tmp, "by-id"));
    device = path.join(host.tmp, "by-id", "scsi-0HC_Volume_4711");
    fs.symlinkSync(loop, device);
    mnt = path.join(host.tmp, "mnt", "pgdata");
    // The entry an older berth wrote (mounted without ordering before Docker), and another one.
    fs.writeFileSync(
      path.join(host.etc, "fstab"),
      `UUID=1234 / ext4 defaults 0 1\n${device} ${mnt} ext4 discard,nofail,defaults 0 2\n`,
    );
  });
  after(async () => {
    await host?.stop();
    if (loop) spawnSync("losetup", ["-d", loop]);
  });

  const script = () => mountScript({ host: "db-1", volume: "pgdata", device, format: "ext4", mountPath: mnt });

  it("mounts the volume and orders it before Docker at boot, keeping the rest of fstab", () => {
    const r = host.run(script());
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /berth: volume pgdata mounted at /);
    assert.equal(host.run(`mountpoint -q ${mnt}`).status, 0, "mounted (in the host's mount namespace)");
    const fstab = fs.readFileSync(path.join(host.etc, "fstab"), "utf8");
    assert.equal(fstab, `UUID=1234 / ext4 defaults 0 1\n${fstabEntry({ device, mountPath: mnt, format: "ext4" })}\n`);
  });

  it("runs again without change (a replaced server, a new volume id, or an unchanged one)", () => {
    const before = fs.readFileSync(path.join(host.etc, "fstab"), "utf8");
    const r = host.run(script());
    assert.equal(r.status, 0, r.stderr);
    assert.equal(fs.readFileSync(path.join(host.etc, "fstab"), "utf8"), before);
  });

  it("systemd's fstab generator makes docker.service require and wait for the mount", () => {
    const generator = "/lib/systemd/system-generators/systemd-fstab-generator";
    assert.ok(fs.existsSync(generator), "systemd is not installed; run: apt-get install -y systemd");
    const out = path.join(host.tmp, "units");
    for (const d of ["", "-early", "-late"]) fs.mkdirSync(out + d);
    const res = spawnSync(generator, [out, `${out}-early`, `${out}-late`], {
      env: { ...process.env, SYSTEMD_FSTAB: path.join(host.etc, "fstab"), SYSTEMD_PROC_CMDLINE: "" },
      encoding: "utf8",
    });
    assert.equal(res.status, 0, res.stderr);
    const unitName = execFileSync("systemd-escape", ["--path", "--suffix=mount", mnt], { encoding: "utf8" }).trim();
    const unit = fs.readFileSync(path.join(out, unitName), "utf8");
    assert.match(unit, /^Before=docker\.service$/m);
    assert.equal(fs.readlinkSync(path.join(out, "docker.service.requires", unitName)), `../${unitName}`);
  });

  it("creates an accessory's directories on the mounted volume", () => {
    const dirs = [`${mnt}/shop-db/data`, `${mnt}/shop-db/backups`];
    const r = host.run(directoriesScript(dirs));
    assert.equal(r.status, 0, r.stderr);
    const listing = host.run(`ls -d ${dirs.join(" ")} && findmnt -n -o TARGET --target ${dirs[0]}`);
    assert.equal(listing.status, 0, listing.stderr);
    assert.ok(listing.stdout.trim().endsWith(mnt), "the directories live on the volume, not the root disk");
  });
});

describe("the docker provider's ssh options against a real sshd", { timeout: 120_000 }, () => {
  let host: Loopback;
  let keys = "";
  before(async () => {
    host = await startLoopback();
    keys = fs.mkdtempSync(path.join(host.tmp, "ssh-dir-"));
  });
  after(async () => {
    await host?.stop();
  });

  /** ssh as docker's connection helper runs it: the options, then the host, then a command. */
  const dockerSsh = (line: string) => {
    const identityFile = writeIdentityFile(fs.readFileSync(host.clientKey, "utf8"), { BERTH_SSH_DIR: keys });
    const opts = dockerSshOptions({ knownHostsLine: line, identityFile });
    const env = { ...process.env };
    delete env.SSH_AUTH_SOCK;
    return spawnSync(
      "ssh",
      [
        "-F",
        "/dev/null",
        "-o",
        "BatchMode=yes",
        ...opts,
        "-p",
        String(host.sshPort),
        "root@127.0.0.1",
        "docker version --format '{{.Server.Version}}'",
      ],
      { encoding: "utf8", env, timeout: 30_000 },
    );
  };

  it("reaches dockerd with the key file berth wrote and the host key it knew in advance", () => {
    const r = dockerSsh(knownHostsLine("127.0.0.1", host.sshPort, host.hostKey));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout.trim(), /^\d+\.\d+/);
  });

  it("refuses the host when its key is another one, as at a recycled address", () => {
    const other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAMUGzeJwfzhUYIeRMnoPk6eIzlZ1jb7ItKab7Zq74Sg";
    const r = dockerSsh(knownHostsLine("127.0.0.1", host.sshPort, other));
    assert.equal(r.status, 255);
    assert.match(r.stderr, /Host key verification failed/);
  });
});
