// Longer than 400 lines: the loopback sshd, dockerd and their helpers start and stop together; a test uses them as one host.
// A host to run berth's scripts on for real: an sshd and a dockerd started by the test on
// loopback (openssh-server and docker.io, installed by .ci/run), in a temp dir, on free ports,
// stopped afterwards. Images are built locally from files of this machine (no registry is
// reachable): Debian's static busybox, plus whatever binaries a test needs with their libraries.
import assert from "node:assert/strict";
import { ChildProcess, execFileSync, spawn, spawnSync, SpawnSyncReturns } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { ResolvedProxy } from "../../config/schema";
import { runCli } from "../../cli/main";
import { Io } from "../../cli/process";
import { STAND_IN_PULUMI } from "./harness";

export function tool(name: string, pkg: string): string {
  const found = spawnSync("sh", ["-c", `command -v ${name} || ls /usr/sbin/${name} 2>/dev/null`], { encoding: "utf8" })
    .stdout.trim()
    .split("\n")[0];
  assert.ok(found, `${name} is not installed; run: apt-get install -y ${pkg}`);
  return found;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

export async function until(what: string, ms: number, check: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not come up within ${ms / 1000}s`);
}

export interface LoopbackOptions {
  /**
   * Run sshd (and so every script) in a private mount namespace whose /etc is a copy: scripts
   * may then rewrite /etc/fstab and mount file systems without touching this machine.
   */
  privateEtc?: boolean;
}

export interface Loopback {
  tmp: string;
  sshPort: number;
  /** The sshd's host key, `ssh-ed25519 AAAA...`. */
  hostKey: string;
  /** Private key the test's ssh client logs in with. */
  clientKey: string;
  /** The /etc the scripts see when privateEtc is set. */
  etc: string;
  docker(args: string[], timeout?: number): string;
  /** Runs a script on the host the way the command provider does: one ssh session, stdin piped. */
  run(script: string, stdin?: string): SpawnSyncReturns<string>;
  /** Builds an image holding busybox and the given files of this machine (with their libraries). */
  buildImage(tag: string, binaries: Record<string, string>, extraFiles?: Record<string, string>): void;
  /**
   * Builds an image from the busybox base plus Dockerfile lines, with `files` in the build
   * context; returns the image id.
   */
  build(tag: string, lines: string[], files?: Record<string, { content: string; mode?: number }>): string;
  stop(): Promise<void>;
}

export async function startLoopback(opts: LoopbackOptions = {}): Promise<Loopback> {
  assert.equal(process.getuid?.(), 0, "these tests start dockerd and sshd, which needs root (as in .ci/run)");
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-host-"));
  const sock = path.join(tmp, "docker.sock");
  const dockerEnv = { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_BUILDKIT: "0" };
  const started: ChildProcess[] = [];
  const start = (file: string, args: string[], log: string) => {
    const out = fs.openSync(path.join(tmp, log), "a");
    const child = spawn(file, args, { stdio: ["ignore", out, out], detached: true });
    started.push(child);
    return child;
  };
  const docker = (args: string[], timeout = 30_000) =>
    execFileSync("docker", args, { env: dockerEnv, encoding: "utf8", timeout, stdio: ["ignore", "pipe", "pipe"] });

  const stop = async () => {
    // The app's networks go first: a bridge whose dockerd is killed stays on this machine and
    // takes an address range from every later dockerd.
    if (fs.existsSync(sock)) {
      const ids = spawnSync("docker", ["ps", "-aq"], { env: dockerEnv, encoding: "utf8", timeout: 30_000 }).stdout;
      if (ids?.trim())
        spawnSync("docker", ["rm", "-f", ...ids.trim().split("\n")], { env: dockerEnv, timeout: 60_000 });
      spawnSync("docker", ["network", "prune", "--force"], { env: dockerEnv, timeout: 30_000 });
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
  };

  try {
    start(
      tool("dockerd", "docker.io"),
      [
        `--host=unix://${sock}`,
        `--data-root=${tmp}/docker`,
        `--exec-root=${tmp}/exec`,
        `--pidfile=${tmp}/docker.pid`,
        "--iptables=false",
        "--bridge=none",
        // Its own range for networks (docker network create), away from the default ranges that
        // every dockerd on this machine draws from.
        `--default-address-pool=base=10.${1 + Math.floor(Math.random() * 250)}.0.0/16,size=24`,
      ],
      "dockerd.log",
    );
    tool("docker", "docker.io");
    await until(
      "dockerd",
      30_000,
      () => spawnSync("docker", ["version"], { env: dockerEnv, timeout: 5000 }).status === 0,
    );

    const sshd = tool("sshd", "openssh-server");
    tool("ssh", "openssh-client");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${tmp}/host_key`]);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${tmp}/id`]);
    fs.copyFileSync(`${tmp}/id.pub`, `${tmp}/authorized_keys`);
    fs.mkdirSync("/run/sshd", { recursive: true });
    const sshPort = await freePort();
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
    let etc = "/etc";
    if (opts.privateEtc) {
      etc = `${tmp}/etc`;
      execFileSync("cp", ["-a", "/etc", etc]);
      start(
        tool("unshare", "util-linux"),
        [
          "--mount",
          "--propagation",
          "private",
          "sh",
          "-c",
          'mount --bind "$1" /etc && exec "$2" -D -e -f "$3"',
          "sh",
          etc,
          sshd,
          `${tmp}/sshd_config`,
        ],
        "sshd.log",
      );
    } else {
      start(sshd, ["-D", "-e", "-f", `${tmp}/sshd_config`], "sshd.log");
    }
    const sshArgs = [
      "-F",
      "/dev/null",
      "-i",
      `${tmp}/id`,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "LogLevel=ERROR",
      "-p",
      String(sshPort),
      "root@127.0.0.1",
    ];
    const run = (script: string, stdin?: string) =>
      spawnSync("ssh", [...sshArgs, script], { input: stdin ?? "", encoding: "utf8", timeout: 120_000 });
    await until("sshd", 15_000, () => run("true").status === 0);

    const busybox = tool("busybox", "busybox-static");
    const buildImage = (tag: string, binaries: Record<string, string>, extraFiles: Record<string, string> = {}) => {
      const context = fs.mkdtempSync(path.join(tmp, "image-"));
      const root = path.join(context, "root");
      const put = (from: string, to: string) => {
        fs.mkdirSync(path.join(root, path.dirname(to)), { recursive: true });
        fs.copyFileSync(fs.realpathSync(from), path.join(root, to));
      };
      put(busybox, "/bin/busybox");
      for (const [to, from] of Object.entries(binaries)) {
        put(from, to);
        const libs = execFileSync("ldd", [from], { encoding: "utf8" });
        for (const m of libs.matchAll(/(\/\S+) \(0x/g)) put(m[1], m[1]);
      }
      for (const [to, content] of Object.entries(extraFiles)) {
        fs.mkdirSync(path.join(root, path.dirname(to)), { recursive: true });
        fs.writeFileSync(path.join(root, to), content, { mode: 0o755 });
      }
      fs.writeFileSync(
        path.join(context, "Dockerfile"),
        'FROM scratch\nCOPY root/ /\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["sh"]\n',
      );
      docker(["build", "-q", "-t", tag, context], 120_000);
    };
    let base: string | undefined;
    const build = (tag: string, lines: string[], files: Record<string, { content: string; mode?: number }> = {}) => {
      if (!base) buildImage((base = "berth-loopback-base:1"), {});
      const dir = fs.mkdtempSync(path.join(tmp, "build-"));
      for (const [name, f] of Object.entries(files))
        fs.writeFileSync(path.join(dir, name), f.content, { mode: f.mode });
      fs.writeFileSync(path.join(dir, "Dockerfile"), [`FROM ${base}`, ...lines, ""].join("\n"));
      docker(["build", "-q", "-t", tag, dir], 60_000);
      return docker(["image", "inspect", "--format", "{{.Id}}", tag]).trim();
    };

    return {
      tmp,
      sshPort,
      hostKey: fs.readFileSync(`${tmp}/host_key.pub`, "utf8").trim().split(" ").slice(0, 2).join(" "),
      clientKey: `${tmp}/id`,
      etc,
      docker,
      run,
      buildImage,
      build,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * A stand-in for kamal-proxy v0.9.2's `deploy`, `remove` and `rollout deploy|set|stop` (its image
 * cannot be pulled here), keeping the active target of a service in /state/<service> and writing
 * kamal-proxy's own state file after every change, in its shape. What it assumes, from
 * kamal-proxy's source (basecamp/kamal-proxy v0.9.2):
 * - `deploy` health-checks the target with GET on the health check path until it answers 2xx or
 *   the deploy timeout passes, and only then routes the service to it, exiting 0; on timeout it
 *   exits non-zero and the service keeps its target (internal/server/router.go DeployService,
 *   createLoadBalancer, WaitUntilHealthy). Deploying the target already served is the same check.
 * - `rollout deploy <service> --target=` needs the service (router.go SetRolloutTargets:
 *   ErrorServiceNotFound) and health-checks the target the same way, then fills the rollout slot;
 *   `rollout set <service> --percent= --list=` needs a rollout target (service.go SetRolloutSplit:
 *   ErrorRolloutTargetNotSet); `rollout stop` drops the split only (service.go StopRollout);
 *   `remove` drops the service with its rollout (router.go RemoveService).
 * - The state file: ~/.config/kamal-proxy/kamal-proxy.state of the kamal-proxy user
 *   (internal/server/config.go StatePath; Dockerfile useradd), a JSON list of services with
 *   name, active_targets, rollout_targets and rollout_controller {percentage, allowlist}
 *   (service.go MarshalJSON; rollout_controller.go).
 */
export const KAMAL_PROXY_STAND_IN = `#!/bin/sh
set -u
mkdir -p /state
state_file=/home/kamal-proxy/.config/kamal-proxy/kamal-proxy.state
save() {
  mkdir -p "\${state_file%/*}"
  out="["; sep=""
  for f in /state/*; do
    case "$f" in *.*|'/state/*') continue ;; esac
    name=\${f#/state/}
    rollout=""
    [ -e "$f.rollout" ] && rollout="\\"$(cat "$f.rollout")\\""
    ctl=null
    if [ -e "$f.split" ]; then
      read -r pct list < "$f.split"
      quoted=$(printf '%s' "$list" | sed 's/[^,][^,]*/"&"/g')
      ctl="{\\"percentage\\":$pct,\\"allowlist\\":[$quoted]}"
    fi
    out="$out$sep{\\"name\\":\\"$name\\",\\"active_targets\\":[\\"$(cat "$f")\\"],\\"rollout_targets\\":[$rollout],\\"rollout_controller\\":$ctl}"
    sep=","
  done
  printf '%s]\\n' "$out" > "$state_file"
}
healthy() {
  target=$1; check=$2; timeout=$3
  end=$(( $(date +%s) + timeout ))
  until wget -q -O /dev/null "http://$target$check"; do
    if [ "$(date +%s)" -ge "$end" ]; then
      echo "Error: target failed to become healthy within configured timeout (\${timeout}s)" >&2
      exit 1
    fi
    sleep 0.2
  done
}
cmd=$1; shift
rollout=""
if [ "$cmd" = rollout ]; then rollout=$1; shift; fi
service=$1; shift
target=""; check=/up; timeout=30; percent=""; list=""
for arg in "$@"; do
  case "$arg" in
    --target=*) target=\${arg#--target=} ;;
    --health-check-path=*) check=\${arg#--health-check-path=} ;;
    --deploy-timeout=*) timeout=\${arg#--deploy-timeout=}; timeout=\${timeout%s} ;;
    --percent=*) percent=\${arg#--percent=} ;;
    --list=*) list=\${arg#--list=} ;;
  esac
done
case "$cmd$rollout" in
deploy)
  healthy "$target" "$check" "$timeout"
  echo "$target" > "/state/$service"
  echo "$check" > "/state/$service.check"
  ;;
remove) rm -f "/state/$service" "/state/$service.check" "/state/$service.rollout" "/state/$service.split" ;;
rolloutdeploy)
  [ -e "/state/$service" ] || { echo "Error: service not found" >&2; exit 1; }
  [ -e "/state/$service.check" ] && check=$(cat "/state/$service.check")
  healthy "$target" "$check" "$timeout"
  echo "$target" > "/state/$service.rollout"
  ;;
rolloutset)
  [ -e "/state/$service" ] || { echo "Error: service not found" >&2; exit 1; }
  [ -e "/state/$service.rollout" ] || { echo "Error: rollout target not set" >&2; exit 1; }
  [ -n "$percent$list" ] || { echo 'Error: at least one of the flags in the group [percent list] is required' >&2; exit 1; }
  echo "\${percent:-0} $list" > "/state/$service.split"
  ;;
rolloutstop)
  [ -e "/state/$service" ] || { echo "Error: service not found" >&2; exit 1; }
  rm -f "/state/$service.split"
  ;;
*) echo "unknown command $cmd $rollout" >&2; exit 1 ;;
esac
save
`;

/** A proxied role's settings for the scripts the loopback tests run (a short deploy timeout). */
export const TEST_PROXY: ResolvedProxy = {
  hosts: ["shop.example.com"],
  ssl: false,
  sslRedirect: true,
  appPort: 80,
  healthcheck: { path: "/up", interval: 1, timeout: 5 },
  responseTimeout: 30,
  buffering: { requests: true, responses: true },
  pathPrefixes: [],
  deployTimeout: 3,
  drainTimeout: 30,
};

/**
 * The docker network `kamal`, the kamal-proxy stand-in running on it as kamal-proxy, and the app
 * image (busybox httpd answering /up); returns the app image's id.
 */
export function startProxyAndApp(host: Loopback): string {
  host.docker(["network", "create", "kamal"]);
  host.build("kamal-proxy-stand-in:1", ["COPY kamal-proxy /bin/kamal-proxy", 'CMD ["sleep", "3600"]'], {
    "kamal-proxy": { content: KAMAL_PROXY_STAND_IN, mode: 0o755 },
  });
  host.docker(["run", "-d", "--name", "kamal-proxy", "--network", "kamal", "kamal-proxy-stand-in:1"]);
  return host.build("ghcr.io/acme/shop:base", [
    "RUN mkdir -p /www && echo ok > /www/up",
    'CMD ["httpd", "-f", "-p", "80", "-h", "/www"]',
  ]);
}

/**
 * Runs a berth command in `dir` against the stand-in pulumi (test/fixtures/pulumi.cjs, its log and
 * state in `dir`) and the loopback ssh client written there, answering every confirmation with `confirm`.
 */
export async function berthIn(dir: string, stack: string, args: string[], confirm: boolean) {
  let out = "";
  let err = "";
  const io: Io = {
    out: (t) => (out += t),
    err: (t) => (err += t),
    env: {
      ...process.env,
      BERTH_PULUMI: STAND_IN_PULUMI,
      BERTH_FAKE_LOG: `${dir}/pulumi.log`,
      BERTH_FAKE_STATE: `${dir}/state.json`,
      BERTH_SSH: `${dir}/ssh`,
      BERTH_STACK: stack,
    },
    cwd: dir,
    confirm: async () => confirm,
  };
  const code = await runCli(args, io);
  return { code, out, err, lines: out.trim().split("\n") };
}
