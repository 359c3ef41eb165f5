// A real dockerd and sshd on loopback for tests that run berth's host scripts for real: each in a
// temporary directory, on a free port, the docker daemon reachable only through its own socket,
// both stopped by `stop()`. Needs root, openssh-server, docker.io and busybox-static (.ci/run).
// Images are built locally from Debian's static busybox: no registry is reachable.
import assert from "node:assert/strict";
import { ChildProcess, execFileSync, spawn, spawnSync, SpawnSyncReturns } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export interface Loopback {
  tmp: string;
  /** The sshd's port on 127.0.0.1 (user root). */
  port: number;
  /** An executable that runs `ssh` with the test's client config, for tools that run `ssh`. */
  sshCommand: string;
  /** `docker ...` against the test's dockerd; throws on failure. */
  docker(args: string[], timeout?: number): string;
  /** Runs a script on the host over SSH the way pulumi-command does: as the session's command. */
  ssh(script: string, stdin?: string): SpawnSyncReturns<string>;
  /** Builds an image from the busybox base plus Dockerfile lines; returns its id. */
  build(tag: string, lines: string[], files?: Record<string, { content: string; mode?: number }>): string;
  stop(): Promise<void>;
}

/** The busybox base image every built image starts from. */
export const BASE_IMAGE = "berth-loopback-base:1";

function tool(name: string, pkg: string): string {
  const found = spawnSync("sh", ["-c", `command -v ${name} || ls /usr/sbin/${name} 2>/dev/null`], { encoding: "utf8" })
    .stdout.trim()
    .split("\n")[0];
  assert.ok(found, `${name} is not installed; run: apt-get install -y ${pkg}`);
  return found;
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

async function until(what: string, ms: number, check: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not come up within ${ms / 1000}s`);
}

export async function startLoopback(prefix: string): Promise<Loopback> {
  assert.equal(process.getuid?.(), 0, "these tests start dockerd and sshd, which needs root (as in .ci/run)");
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  const sock = path.join(tmp, "docker.sock");
  const env = { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_BUILDKIT: "0" };
  const started: ChildProcess[] = [];
  const start = (file: string, args: string[], log: string) => {
    const out = fs.openSync(path.join(tmp, log), "a");
    started.push(spawn(file, args, { stdio: ["ignore", out, out], detached: true }));
  };
  const docker = (args: string[], timeout = 30_000) =>
    execFileSync("docker", args, { env, encoding: "utf8", timeout, stdio: ["ignore", "pipe", "pipe"] });

  const stop = async () => {
    for (const child of started.reverse()) {
      if (child.exitCode !== null || child.pid === undefined) continue;
      const exited = new Promise((r) => child.once("exit", r));
      process.kill(-child.pid, "SIGTERM");
      const timer = setTimeout(() => child.pid && process.kill(-child.pid, "SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  };

  try {
    tool("docker", "docker.io");
    start(
      tool("dockerd", "docker.io"),
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
    await until("dockerd", 30_000, () => spawnSync("docker", ["version"], { env, timeout: 5000 }).status === 0);
    const context = path.join(tmp, "base");
    fs.mkdirSync(context);
    fs.copyFileSync(tool("busybox", "busybox-static"), path.join(context, "busybox"));
    fs.writeFileSync(
      path.join(context, "Dockerfile"),
      'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["sh"]\n',
    );
    docker(["build", "-q", "-t", BASE_IMAGE, context], 60_000);

    const sshd = tool("sshd", "openssh-server");
    tool("ssh", "openssh-client");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${tmp}/host_key`]);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${tmp}/id`]);
    fs.copyFileSync(`${tmp}/id.pub`, `${tmp}/authorized_keys`);
    fs.mkdirSync("/run/sshd", { recursive: true });
    const port = await freePort();
    fs.writeFileSync(
      `${tmp}/sshd_config`,
      [
        `Port ${port}`,
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
    const sshCommand = `${tmp}/ssh`;
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
    fs.writeFileSync(sshCommand, `#!/bin/sh\nexec ssh -F ${tmp}/ssh_config "$@"\n`, { mode: 0o755 });
    const ssh = (script: string, stdin?: string) =>
      spawnSync(sshCommand, ["-p", String(port), "root@127.0.0.1", script], {
        encoding: "utf8",
        input: stdin ?? "",
        timeout: 120_000,
      });
    await until("sshd", 15_000, () => ssh("true").status === 0);

    const build = (tag: string, lines: string[], files: Record<string, { content: string; mode?: number }> = {}) => {
      const dir = fs.mkdtempSync(path.join(tmp, "build-"));
      for (const [name, f] of Object.entries(files))
        fs.writeFileSync(path.join(dir, name), f.content, { mode: f.mode });
      fs.writeFileSync(path.join(dir, "Dockerfile"), [`FROM ${BASE_IMAGE}`, ...lines, ""].join("\n"));
      docker(["build", "-q", "-t", tag, dir], 60_000);
      return docker(["image", "inspect", "--format", "{{.Id}}", tag]).trim();
    };
    return { tmp, port, sshCommand, docker, ssh, build, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
