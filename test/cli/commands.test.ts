// Which ssh and docker commands each verb builds, and for which hosts, from the stack outputs.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, it } from "node:test";
import { parse } from "shell-quote";
import { expandAlias, stackArgument } from "../../cli/aliases";
import { maintenanceChanges } from "../../cli/maintenance";
import { accessoryTargets, allHosts, appTargets, parseSshUrl, readOutputs, StackOutputs } from "../../cli/outputs";
import {
  commandLine,
  containerDetailsCommand,
  detailsCommand,
  execCommand,
  logsCommand,
  SHELL_COMMAND,
  sshArgs,
} from "../../cli/remote";
import { ROOT } from "../support/harness";
import { BUILT_IN_COMMANDS } from "../../import/sections/aliases";

/** Stack outputs in the shape index.ts exports, for a stack with two web hosts and a job host. */
export const OUTPUTS: StackOutputs = {
  service: "myapp",
  stack: "production",
  version: "2026.11.4",
  hosts: {
    "web-1": { name: "web-1", roles: ["web"], ipv4: "203.0.113.11", ssh: "ssh://root@203.0.113.11:22" },
    "web-2": { name: "web-2", roles: ["web"], ipv4: "203.0.113.12", ssh: "ssh://deploy@203.0.113.12:2222" },
    "job-1": { name: "job-1", roles: ["job"], ssh: "ssh://root@[2001:db8::1]:22" },
  },
  roles: {
    web: { hosts: ["web-1", "web-2"], container: "myapp-web-production-2026.11.4", proxied: true },
    job: { hosts: ["job-1"], container: "myapp-job-production-2026.11.4", proxied: false },
  },
  accessories: {
    db: { hosts: ["job-1"], container: "myapp-db", image: "postgis/postgis:16-3.4" },
  },
};

describe("targets from stack outputs", () => {
  it("reads ssh addresses, IPv6 included", () => {
    assert.deepEqual(parseSshUrl("ssh://root@203.0.113.5:22"), { user: "root", address: "203.0.113.5", port: 22 });
    assert.deepEqual(parseSshUrl("ssh://deploy@[2001:db8::1]:2222"), {
      user: "deploy",
      address: "2001:db8::1",
      port: 2222,
    });
    assert.throws(() => parseSshUrl("203.0.113.5"), /expected ssh:\/\/user@host:port/);
  });

  it("defaults to the web role on all its hosts; --role and --host narrow it", () => {
    assert.deepEqual(
      appTargets(OUTPUTS, {}).map((t) => [t.host, t.ssh.user, t.ssh.port, t.container]),
      [
        ["web-1", "root", 22, "myapp-web-production-2026.11.4"],
        ["web-2", "deploy", 2222, "myapp-web-production-2026.11.4"],
      ],
    );
    assert.deepEqual(
      appTargets(OUTPUTS, { host: "web-2" }).map((t) => t.host),
      ["web-2"],
    );
    assert.deepEqual(
      appTargets(OUTPUTS, { role: "job" }).map((t) => [t.host, t.ssh.address, t.container]),
      [["job-1", "2001:db8::1", "myapp-job-production-2026.11.4"]],
    );
  });

  it("names what exists when a role, host or accessory does not", () => {
    assert.throws(
      () => appTargets(OUTPUTS, { role: "worker" }),
      /no role "worker" in stack production; roles: web, job/,
    );
    assert.throws(() => appTargets(OUTPUTS, { host: "web-9" }), /no host "web-9".*hosts: web-1, web-2, job-1/);
    assert.throws(
      () => appTargets(OUTPUTS, { host: "job-1" }),
      /role web does not run on host job-1; it runs on web-1, web-2/,
    );
    assert.throws(() => accessoryTargets(OUTPUTS, "redis"), /no accessory "redis".*accessories: db/);
    assert.throws(() => readOutputs({}, "staging"), /deploy it first with `pulumi up -s staging`/);
  });

  it("finds accessories and every host", () => {
    assert.deepEqual(
      accessoryTargets(OUTPUTS, "db").map((t) => [t.host, t.container]),
      [["job-1", "myapp-db"]],
    );
    assert.deepEqual(
      allHosts(OUTPUTS).map((h) => h.host),
      ["web-1", "web-2", "job-1"],
    );
  });
});

describe("ssh and docker command lines", () => {
  it("runs one remote command string over ssh, batch mode unless interactive, host keys checked strictly", () => {
    const ssh = { user: "deploy", address: "203.0.113.12", port: 2222 };
    assert.deepEqual(sshArgs(ssh, "docker ps"), [
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=yes",
      "-p",
      "2222",
      "deploy@203.0.113.12",
      "docker ps",
    ]);
    assert.deepEqual(sshArgs(ssh, "docker exec -it c sh", { terminal: true, knownHostsFile: "/tmp/k" }), [
      "-t",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "UserKnownHostsFile=/tmp/k",
      "-o",
      "GlobalKnownHostsFile=/dev/null",
      "-p",
      "2222",
      "deploy@203.0.113.12",
      "docker exec -it c sh",
    ]);
  });

  it("logs: tail, follow and grep, stderr included", () => {
    assert.equal(logsCommand("c"), "docker logs --tail 100 c 2>&1");
    assert.equal(logsCommand("c", { follow: true }), "docker logs --follow --tail 10 c 2>&1");
    assert.equal(logsCommand("c", { lines: 5, grep: "GET /up" }), "docker logs --tail 5 c 2>&1 | grep -- 'GET /up'");
    assert.equal(
      logsCommand("c", { follow: true, grep: "it's" }),
      `docker logs --follow --tail 10 c 2>&1 | grep --line-buffered -- "it's"`,
    );
    // A hostile pattern stays one argument of grep.
    const words = parse(logsCommand("c", { grep: "x; rm -rf /" }));
    assert.deepEqual(words.slice(-3), ["grep", "--", "x; rm -rf /"]);
  });

  it("exec: the command as written, interactive with a terminal", () => {
    assert.equal(execCommand("c", "bin/rails runner 'puts 1'"), "docker exec c bin/rails runner 'puts 1'");
    assert.equal(
      execCommand("c", "bin/rails console", { interactive: true }),
      "docker exec --interactive --tty c bin/rails console",
    );
    assert.deepEqual(parse(SHELL_COMMAND)[0], "sh");
  });

  it("details: the app's containers of this stack, then kamal-proxy", () => {
    const cmd = detailsCommand("myapp", "production");
    const [app, proxy] = cmd.split(" && ").map((c) => parse(c));
    assert.deepEqual(app.slice(0, 7), [
      "docker",
      "ps",
      "--all",
      "--filter",
      "label=service=myapp",
      "--filter",
      "label=destination=production",
    ]);
    assert.deepEqual(proxy.slice(0, 5), ["docker", "ps", "--all", "--filter", "name=^kamal-proxy$"]);
    assert.deepEqual(parse(containerDetailsCommand("myapp-db")).slice(3, 5), ["--filter", "name=^myapp-db$"]);
  });
});

describe("aliases and maintenance", () => {
  const aliases = { jobs: "logs --role job -n 20", runner: "exec 'bin/rails runner'", loop: "jobs" };
  const builtIn = ["logs", "exec", "history"];

  it("expands an alias in place, keeping the arguments around it", () => {
    assert.deepEqual(expandAlias(["jobs", "--stack", "production"], aliases, builtIn), [
      "logs",
      "--role",
      "job",
      "-n",
      "20",
      "--stack",
      "production",
    ]);
    assert.deepEqual(expandAlias(["-s", "x", "runner", "script.rb"], aliases, builtIn), [
      "exec",
      "bin/rails runner",
      "-s",
      "x",
      "script.rb",
    ]);
    assert.deepEqual(expandAlias(["history"], aliases, builtIn), ["history"]);
  });

  it("never lets an alias replace a built-in command or call another alias", () => {
    assert.throws(() => expandAlias(["logs"], { logs: "history" }, builtIn), /has the name of a built-in command/);
    assert.throws(() => expandAlias(["loop"], aliases, builtIn), /runs another alias \("jobs"\)/);
  });

  it("finds --stack in any spelling", () => {
    assert.equal(stackArgument(["logs", "--stack", "a"]), "a");
    assert.equal(stackArgument(["logs", "--stack=b"]), "b");
    assert.equal(stackArgument(["-s", "c", "logs"]), "c");
    assert.equal(stackArgument(["exec", "--", "--stack", "d"]), undefined);
  });

  it("maintenance sets the config keys the program reads", () => {
    assert.deepEqual(maintenanceChanges("off"), [{ key: "berth:maintenance.enabled", value: "false" }]);
    assert.deepEqual(maintenanceChanges("on", "Back soon"), [
      { key: "berth:maintenance.enabled", value: "true" },
      { key: "berth:maintenance.message", value: "Back soon" },
    ]);
  });
});

describe("the berth executable", () => {
  it("runs from the sources with no build step and answers --help for every command", () => {
    const bin = path.join(ROOT, "bin", "berth.cjs");
    const top = spawnSync(process.execPath, [bin, "--help"], { encoding: "utf8", timeout: 30_000 });
    assert.equal(top.status, 0, top.stderr);
    const names = [...top.stdout.matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1]);
    // The names no Kamal alias may take are exactly the commands the executable offers.
    assert.deepEqual([...names].sort(), [...BUILT_IN_COMMANDS].sort());
    const sub = spawnSync(process.execPath, [bin, "rollback", "--help"], { encoding: "utf8", timeout: 30_000 });
    assert.equal(sub.status, 0);
    assert.match(sub.stdout, /--to <version\|update>/);
    assert.match(sub.stdout, /-s, --stack <name>/);
  });

  it("says what to do, without a stack trace, when the Pulumi CLI is missing", () => {
    const bin = path.join(ROOT, "bin", "berth.cjs");
    const r = spawnSync(process.execPath, [bin, "history", "--stack", "staging"], {
      encoding: "utf8",
      timeout: 30_000,
      env: { ...process.env, BERTH_PULUMI: "/nonexistent/pulumi" },
    });
    assert.equal(r.status, 1);
    assert.equal(
      r.stderr,
      "berth: /nonexistent/pulumi: not found. Install the Pulumi CLI (https://www.pulumi.com/docs/iac/download-install/) or point BERTH_PULUMI at it.\n",
    );
  });
});

describe("exec command lines", () => {
  it("passes one argument as written and quotes several one by one", () => {
    assert.equal(commandLine(["bin/rails runner 'puts 1'"]), "bin/rails runner 'puts 1'");
    assert.equal(commandLine(["sh", "-c", "echo $HOME"]), "sh -c 'echo $HOME'");
  });
});
