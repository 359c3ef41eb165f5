// Real validators on what berth generates: `cloud-init schema` on user data and `shellcheck`
// on every script berth sends to a host. Both come from Debian (installed by scripts/test-setup).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { before, describe, it } from "node:test";
import { cloudInit } from "../../components/bootstrap";
import { mountScript, readinessScript } from "../../components/commands/host";
import { awaitRunningScript, pruneImagesScript } from "../../components/commands/app";
import { HOOKS, hookScript } from "../../components/commands/hook";
import { maintenanceScript, proxySwitchScript, routeScript } from "../../components/commands/proxy";
import { byType, Recorded, runIndex, stackConfig } from "../support/harness";
import { scriptsOf, shellcheck, tool, validateCloudInit, write } from "../support/validate";
import { TEST_PUBLIC_KEY } from "../support/configs";

describe("validators are real", () => {
  it("cloud-init schema rejects a broken cloud-config", () => {
    const file = write("broken.yaml", "#cloud-config\npackages: 42\nruncmd: {}\n");
    const res = spawnSync(tool("cloud-init"), ["schema", "--config-file", file], { encoding: "utf8" });
    assert.notEqual(res.status, 0, "the validator must be able to fail");
  });
  it("shellcheck rejects a sloppy script", () => {
    const file = write("sloppy.sh", "#!/bin/sh\nrm -rf $1/*\n");
    assert.notEqual(spawnSync(tool("shellcheck"), [file]).status, 0);
  });
  it("shellcheck passes a careful script, so its verdicts on berth's scripts mean something", () => {
    const file = write("careful.sh", '#!/bin/sh\nset -eu\nrm -rf -- "${1:?}"/*\n');
    const res = spawnSync(tool("shellcheck"), [file], { encoding: "utf8" });
    assert.equal(res.status, 0, res.stdout);
  });
  it("cloud-init schema passes a valid cloud-config", () => {
    const file = write("valid.yaml", "#cloud-config\npackages: [jq]\nruncmd: [[echo, ok]]\n");
    const res = spawnSync(tool("cloud-init"), ["schema", "--config-file", file], { encoding: "utf8" });
    assert.equal(res.status, 0, res.stdout + res.stderr);
  });
});

describe("cloud-init user data", () => {
  it("passes cloud-init schema for root on port 22", () =>
    validateCloudInit("root", cloudInit({ sshUser: "root", sshPort: 22, publicKey: TEST_PUBLIC_KEY })));
  it("passes cloud-init schema for a deploy user on port 2222", () =>
    validateCloudInit("deploy", cloudInit({ sshUser: "deploy", sshPort: 2222, publicKey: TEST_PUBLIC_KEY })));
  it("installs and enables Docker, creates the shared network, hardens SSH, enables upgrades", () => {
    const text = cloudInit({ sshUser: "root", sshPort: 22, publicKey: TEST_PUBLIC_KEY });
    assert.match(text, /- docker\.io/);
    assert.match(text, /systemctl\s*\n?\s*- enable\s*\n\s*- --now\s*\n\s*- docker|systemctl enable --now docker/);
    assert.match(text, /docker network create kamal/);
    assert.match(text, /ssh_pwauth: false/);
    assert.match(text, /PasswordAuthentication no/);
    assert.match(text, /APT::Periodic::Unattended-Upgrade "1"/);
  });
});

describe("scripts sent to hosts", () => {
  const stacks: Record<string, Recorded[]> = {};
  before(async () => {
    for (const stack of ["staging", "production"])
      stacks[stack] = (await runIndex(stack, stackConfig(stack))).resources;
  });

  it("every server's user data passes cloud-init schema", () => {
    let n = 0;
    for (const resources of Object.values(stacks)) {
      for (const s of byType(resources, "hcloud:index/server:Server")) {
        validateCloudInit(s.name, s.inputs.userData);
        n++;
      }
    }
    assert.equal(n, 5);
  });

  it("every remote command of both example stacks passes shellcheck", () => {
    const scripts = Object.values(stacks).flatMap(scriptsOf);
    const kinds = new Set(scripts.map(([name]) => name.replace(/^.*-(\w+)\.(create|delete)$/, "$1")));
    for (const kind of [
      "ready",
      "mount",
      "assets",
      "prune",
      "route",
      "maintenance",
      "deploy",
      "boot",
      "backup",
      "restore",
      "extensions",
      "directories",
    ]) {
      assert.ok(kinds.has(kind), `expected ${kind} scripts among ${[...kinds].join(", ")}`);
    }
    for (const [name, script] of scripts) shellcheck(name, script);
  });

  it("the readiness and mount scripts pass shellcheck on their own", () => {
    shellcheck("ready", readinessScript("web-1", 30));
    shellcheck(
      "mount",
      mountScript({
        host: "db-1",
        volume: "pgdata",
        device: "/dev/disk/by-id/scsi-0HC_Volume_123",
        format: "xfs",
        mountPath: "/srv/pg",
      }),
    );
  });

  it("deploy scripts pass shellcheck for every variant", () => {
    const proxy = {
      hosts: ["a.example.com", "b.example.com"],
      ssl: true,
      sslRedirect: false,
      appPort: 3000,
      healthcheck: { path: "/up?full=1", interval: 2, timeout: 4 },
      responseTimeout: 30,
      buffering: { requests: true, responses: false, memory: 1, maxRequestBody: 2, maxResponseBody: 3 },
      forwardHeaders: true,
      pathPrefixes: ["/a", "/b"],
      deployTimeout: 30,
      drainTimeout: 30,
    };
    shellcheck("switch", proxySwitchScript("svc", "svc-web-x-sha256-abc", proxy));
    shellcheck("route", routeScript("svc", "svc-web-x-sha256-abc", proxy, { container: "abc", proxy: "def" }));
    shellcheck(
      "prune",
      pruneImagesScript({
        image: "ghcr.io/a/b",
        ref: "ghcr.io/a/b@sha256:00",
        keep: 3,
        dir: "/x y/a",
        appsRoot: "/x y",
      }),
    );
    shellcheck("stop", maintenanceScript("svc", true, 10, "it's $HOME `now`"));
    shellcheck("resume", maintenanceScript("svc", false, 10));
    shellcheck("await", awaitRunningScript("svc-job", 7, 60));
    for (const hook of HOOKS) shellcheck(hook, hookScript("my hooks", hook, ".berth/x"));
  });
});
