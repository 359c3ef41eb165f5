// logs, exec, details, accessory verbs and an alias, end to end: a real sshd and a real dockerd
// on loopback (test/support/loopback.ts; openssh-server and docker.io, installed by
// scripts/test-setup), containers from a tiny image of Debian's static busybox.
// Hosts and containers come from stack outputs answered by the stand-in pulumi.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { after, before, describe, it } from "node:test";
import { berthIn, Loopback, startLoopback } from "../support/loopback";

const SERVICE = "myapp";
const STACK = "staging";
const WEB = "myapp-web-staging-1";
const JOB = "myapp-job-staging-1";
const DB = "myapp-db";

let host: Loopback;
let tmp = "";
let sshPort = 0;
const docker = (args: string[]) => host.docker(args);

function startContainers(): void {
  host.buildImage("berth-e2e:1", {});
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

function writeSshClient(): void {
  fs.writeFileSync(
    `${tmp}/ssh_config`,
    [
      "Host *",
      `  IdentityFile ${host.clientKey}`,
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
}

function writeStack(hostKey = host.hostKey): void {
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
      // As the program exports it; the ssh wrapper's own config would accept any key.
      knownHosts: `[127.0.0.1]:${sshPort} ${hostKey}\n`,
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

const berth = (...args: string[]) => berthIn(tmp, STACK, args, false);

describe("berth over a real sshd and dockerd", { timeout: 180_000 }, () => {
  before(async () => {
    host = await startLoopback();
    tmp = host.tmp;
    sshPort = host.sshPort;
    startContainers();
    writeSshClient();
    writeStack();
    // Let the looping containers write enough lines for the tails below.
    await new Promise((r) => setTimeout(r, 1500));
  });

  after(async () => {
    await host?.stop();
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

  it("refuses a host whose key is not the one the stack recorded, and says where to look", async () => {
    const other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAMUGzeJwfzhUYIeRMnoPk6eIzlZ1jb7ItKab7Zq74Sg";
    writeStack(other);
    try {
      const r = await berth("logs", "-n", "1");
      assert.equal(r.code, 255);
      assert.match(r.err, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
      assert.match(r.err, /the stack's knownHosts output is current \(`pulumi stack output knownHosts`\)/);
      assert.equal(r.out.trim(), "== web-1 (127.0.0.1) ==", "nothing ran on the host");
    } finally {
      writeStack();
    }
  });

  it("without a knownHosts output, checks against the user's known_hosts and never trusts a new key", async () => {
    const state = JSON.parse(fs.readFileSync(`${tmp}/state.json`, "utf8"));
    delete state.outputs.knownHosts;
    fs.writeFileSync(`${tmp}/state.json`, JSON.stringify(state));
    try {
      const r = await berth("logs", "-n", "1");
      assert.equal(r.code, 255, "the test's known_hosts is /dev/null: the host is unknown, so refused");
      assert.match(r.err, /no knownHosts output yet/);
      assert.match(r.err, /Host key verification failed/);
    } finally {
      writeStack();
    }
  });
});
