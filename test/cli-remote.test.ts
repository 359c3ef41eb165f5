// logs, exec, details, accessory verbs and an alias, end to end: a real sshd and a real dockerd
// started here on loopback (openssh-server and docker.io, installed by scripts/test-setup), containers
// from a tiny image built locally from Debian's static busybox (no registry is reachable).
// Hosts and containers come from stack outputs answered by the stand-in pulumi.
import assert from "node:assert/strict";
import { ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli } from "../cli/main";
import { Io } from "../cli/process";

const SERVICE = "myapp";
const STACK = "staging";
const WEB = "myapp-web-staging-1";
const JOB = "myapp-job-staging-1";
const DB = "myapp-db";

function tool(name: string, pkg: string): string {
  const found = spawnSync("sh", ["-c", `command -v ${name} || ls /usr/sbin/${name} 2>/dev/null`], { encoding: "utf8" })
    .stdout.trim()
    .split("\n")[0];
  assert.ok(found, `${name} is not installed; run: apt-get install -y ${pkg}`);
  return found;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-e2e-"));
const sock = path.join(tmp, "docker.sock");
const dockerEnv = { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_BUILDKIT: "0" };
const started: ChildProcess[] = [];
let sshPort = 0;

function docker(args: string[], timeout = 30_000): string {
  return execFileSync("docker", args, { env: dockerEnv, encoding: "utf8", timeout, stdio: ["ignore", "pipe", "pipe"] });
}

async function until(what: string, ms: number, check: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not come up within ${ms / 1000}s`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

function start(file: string, args: string[], log: string): ChildProcess {
  const out = fs.openSync(path.join(tmp, log), "a");
  const child = spawn(file, args, { stdio: ["ignore", out, out], detached: true });
  started.push(child);
  return child;
}

async function startDocker(): Promise<void> {
  const dockerd = tool("dockerd", "docker.io");
  tool("docker", "docker.io");
  start(
    dockerd,
    [
      `--host=unix://${sock}`,
      `--data-root=${tmp}/docker`,
      `--exec-root=${tmp}/exec`,
      `--pidfile=${tmp}/docker.pid`,
      "--iptables=false",
      "--bridge=none",
    ],
    "dockerd.log",
  );
  await until(
    "dockerd",
    30_000,
    () => spawnSync("docker", ["version"], { env: dockerEnv, timeout: 5000 }).status === 0,
  );

  const busybox = tool("busybox", "busybox-static");
  const context = path.join(tmp, "image");
  fs.mkdirSync(context);
  fs.copyFileSync(busybox, path.join(context, "busybox"));
  fs.writeFileSync(
    path.join(context, "Dockerfile"),
    'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["sh"]\n',
  );
  docker(["build", "-q", "-t", "berth-e2e:1", context], 60_000);

  const loop = (name: string) =>
    `echo ${name} booted; i=0; while true; do i=$((i+1)); echo "${name} tick $i"; echo "${name} warn $i" >&2; sleep 0.1; done`;
  const run = (name: string, labels: string[], script: string) =>
    docker([
      "run",
      "-d",
      "--name",
      name,
      "--network",
      "none",
      ...labels.flatMap((l) => ["--label", l]),
      "berth-e2e:1",
      "sh",
      "-c",
      script,
    ]);
  const app = [`service=${SERVICE}`, `destination=${STACK}`, "berth.version=1"];
  run(WEB, [...app, "role=web"], loop("web"));
  run(JOB, [...app, "role=job"], loop("job"));
  run(DB, [], "echo db ready to accept connections; exec sleep 3600");
  run("kamal-proxy", [], "exec sleep 3600");
  // An app container of another stack on the same host: details must not list it.
  run("myapp-web-production-1", [`service=${SERVICE}`, "destination=production"], "exec sleep 3600");
}

async function startSshd(): Promise<void> {
  const sshd = tool("sshd", "openssh-server");
  tool("ssh", "openssh-client");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${tmp}/host_key`]);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${tmp}/id`]);
  fs.copyFileSync(`${tmp}/id.pub`, `${tmp}/authorized_keys`);
  fs.mkdirSync("/run/sshd", { recursive: true });
  sshPort = await freePort();
  fs.writeFileSync(
    `${tmp}/sshd_config`,
    [
      `Port ${sshPort}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${tmp}/host_key`,
      `PidFile ${tmp}/sshd.pid`,
      `AuthorizedKeysFile ${tmp}/authorized_keys`,
      "StrictModes no",
      "UsePAM no",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      // The session's docker talks to the dockerd started above.
      `SetEnv DOCKER_HOST=unix://${sock}`,
      "",
    ].join("\n"),
  );
  start(sshd, ["-D", "-e", "-f", `${tmp}/sshd_config`], "sshd.log");
  fs.writeFileSync(
    `${tmp}/ssh_config`,
    [
      "Host *",
      `  IdentityFile ${tmp}/id`,
      "  IdentitiesOnly yes",
      "  UserKnownHostsFile /dev/null",
      "  StrictHostKeyChecking no",
      "  LogLevel ERROR",
      "  ConnectTimeout 5",
      "",
    ].join("\n"),
  );
  // berth runs `ssh`; this one reads the test's client config first.
  fs.writeFileSync(`${tmp}/ssh`, `#!/bin/sh\nexec ssh -F ${tmp}/ssh_config "$@"\n`, { mode: 0o755 });
  await until(
    "sshd",
    15_000,
    () => spawnSync(`${tmp}/ssh`, ["-p", String(sshPort), "root@127.0.0.1", "true"], { timeout: 5000 }).status === 0,
  );
}

function writeStack(): void {
  const ssh = `ssh://root@127.0.0.1:${sshPort}`;
  const state = {
    stack: STACK,
    config: {},
    history: [],
    outputs: {
      service: SERVICE,
      stack: STACK,
      version: "1",
      hosts: {
        "web-1": { name: "web-1", kind: "existing", roles: ["web"], ipv4: "127.0.0.1", ssh },
        "job-1": { name: "job-1", kind: "existing", roles: ["job"], ipv4: "127.0.0.1", ssh },
      },
      roles: {
        web: { hosts: ["web-1"], container: WEB, proxied: true },
        job: { hosts: ["job-1"], container: JOB, proxied: false },
      },
      accessories: { db: { hosts: ["job-1"], container: DB, image: "postgis/postgis:16-3.4" } },
      loadBalancer: null,
      dnsRecords: [],
    },
  };
  fs.writeFileSync(`${tmp}/state.json`, JSON.stringify(state));
  fs.writeFileSync(
    `${tmp}/Pulumi.${STACK}.yaml`,
    [
      "config:",
      `  berth:service: ${SERVICE}`,
      "  berth:aliases:",
      '    warnings: "logs --grep warn -n 10"',
      "    dbping: \"accessory exec db 'echo pong'\"",
      "",
    ].join("\n"),
  );
}

async function berth(...args: string[]) {
  let out = "";
  let err = "";
  const io: Io = {
    out: (t) => (out += t),
    err: (t) => (err += t),
    env: {
      ...process.env,
      BERTH_PULUMI: path.join(__dirname, "fixtures", "pulumi.cjs"),
      BERTH_FAKE_LOG: `${tmp}/pulumi.log`,
      BERTH_FAKE_STATE: `${tmp}/state.json`,
      BERTH_SSH: `${tmp}/ssh`,
      BERTH_STACK: STACK,
    },
    cwd: tmp,
    confirm: async () => false,
  };
  const code = await runCli(args, io);
  return { code, out, err, lines: out.trim().split("\n") };
}

describe("berth over a real sshd and dockerd", { timeout: 180_000 }, () => {
  before(async () => {
    assert.equal(process.getuid?.(), 0, "these tests start dockerd and sshd, which needs root (as in .ci/run)");
    await startDocker();
    await startSshd();
    writeStack();
    // Let the looping containers write enough lines for the tails below.
    await new Promise((r) => setTimeout(r, 1500));
  });

  after(async () => {
    try {
      docker(["rm", "-f", WEB, JOB, DB, "kamal-proxy", "myapp-web-production-1"]);
    } catch {
      // dockerd may not have started; nothing to remove then.
    }
    for (const child of started.reverse()) {
      if (child.exitCode !== null || child.pid === undefined) continue;
      const exited = new Promise((r) => child.once("exit", r));
      process.kill(-child.pid, "SIGTERM");
      const timer = setTimeout(() => child.pid && process.kill(-child.pid, "SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("logs: the last N lines of the web containers, stderr included, per host", async () => {
    const r = await berth("logs", "-n", "6");
    assert.equal(r.code, 0, r.err);
    assert.equal(r.lines[0], "== web-1 (127.0.0.1) ==");
    assert.equal(r.lines.length, 7, r.out);
    for (const line of r.lines.slice(1)) assert.match(line, /^web (tick|warn) \d+$/);
    assert.ok(
      r.lines.some((l) => l.includes("warn")),
      "stderr lines are in the log",
    );
  });

  it("logs --grep, --role and --host", async () => {
    const r = await berth("logs", "--role", "job", "--host", "job-1", "--grep", "warn", "-n", "10");
    assert.equal(r.code, 0, r.err);
    assert.equal(r.lines[0], "== job-1 (127.0.0.1) ==");
    assert.ok(r.lines.length > 1);
    for (const line of r.lines.slice(1)) assert.match(line, /^job warn \d+$/);
  });

  it("exec runs in the running container, quotes kept; a failing command fails berth", async () => {
    const r = await berth("exec", "--", "sh", "-c", "echo $((6 * 7)) from $(cat /proc/1/comm)");
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(r.lines, ["== web-1 (127.0.0.1) ==", "42 from sh"]);
    const fail = await berth("exec", "--role", "job", "false");
    assert.equal(fail.code, 1);
    assert.match(fail.err, /on host job-1: `docker exec myapp-job-staging-1 false` failed \(exit 1\)/);
  });

  it("details: this stack's containers with version and status, and kamal-proxy, on every host", async () => {
    const r = await berth("details");
    assert.equal(r.code, 0, r.err);
    assert.match(r.lines[0], /^service myapp, stack staging, deployed version 1$/);
    assert.ok(r.out.includes("== web-1 (127.0.0.1) ==") && r.out.includes("== job-1 (127.0.0.1) =="));
    assert.match(r.out, new RegExp(`${WEB}\\s+berth-e2e:1\\s+1\\s+Up`));
    assert.match(r.out, /kamal-proxy\s+berth-e2e:1\s+-\s+Up/);
    assert.ok(!r.out.includes("myapp-web-production-1"), "another stack's container is not listed");
  });

  it("accessory logs, exec and details", async () => {
    const logs = await berth("accessory", "logs", "db");
    assert.equal(logs.code, 0, logs.err);
    assert.deepEqual(logs.lines, ["== job-1 (127.0.0.1) ==", "db ready to accept connections"]);
    const exec = await berth("accessory", "exec", "db", "echo", "it's up");
    assert.deepEqual(exec.lines, ["== job-1 (127.0.0.1) ==", "it's up"]);
    const details = await berth("accessory", "details", "db");
    assert.match(details.out, new RegExp(`${DB}\\s+berth-e2e:1\\s+Up`));
  });

  it("an alias from berth:aliases runs its command line", async () => {
    const r = await berth("warnings");
    assert.equal(r.code, 0, r.err);
    // The tail comes first, then the grep (as Kamal does): of the last 10 lines, the warnings.
    assert.ok(r.lines.length > 2 && r.lines.length <= 11, r.out);
    for (const line of r.lines.slice(1)) assert.match(line, /^web warn \d+$/);
    const ping = await berth("dbping");
    assert.deepEqual(ping.lines, ["== job-1 (127.0.0.1) ==", "pong"]);
  });

  it("an unknown host fails before any ssh, naming the hosts", async () => {
    const r = await berth("logs", "--host", "web-9");
    assert.equal(r.code, 1);
    assert.match(r.err, /no host "web-9" in stack staging; hosts: web-1, job-1/);
    assert.equal(r.out, "");
  });
});
