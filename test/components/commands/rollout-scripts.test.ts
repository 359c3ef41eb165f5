// berth rollout end to end on a real sshd and dockerd (test/support/loopback.ts): the rollout and
// route steps' scripts the program renders (components/commands/) run over SSH against the
// kamal-proxy stand-in, and `berth rollout` reads and changes the canary through the stand-in
// pulumi, its status reading kamal-proxy's live state on the host. What the stand-in pulumi cannot
// do, run the program's steps during `up`, the test does in its place: after each verb's update it
// runs the scripts that update's changed steps run (mock tier: test/components/canary.test.ts).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { after, before, describe, it } from "node:test";
import { PROXY_CONTAINER } from "../../../config/names";
import { routeScript } from "../../../components/commands/proxy";
import { rolloutScript, rolloutStopScript } from "../../../components/commands/rollout";
import { berthIn, Loopback, startLoopback, startProxyAndApp, TEST_PROXY } from "../../support/loopback";

const SERVICE = "shop-web-production";
const PROXY = TEST_PROXY;
const V1 = "shop-web-production-v1-aaaa0001";
const V2 = "shop-web-production-v2-aaaa0002";
const V3 = "shop-web-production-v3-aaaa0003";

let host: Loopback;

function writeSshClient(tmp: string): void {
  fs.writeFileSync(
    `${tmp}/ssh_config`,
    [
      "Host *",
      `  IdentityFile ${host.clientKey}`,
      "  IdentitiesOnly yes",
      "  LogLevel ERROR",
      "  ConnectTimeout 5",
      "",
    ].join("\n"),
  );
  fs.writeFileSync(`${tmp}/ssh`, `#!/bin/sh\nexec ssh -F ${tmp}/ssh_config "$@"\n`, { mode: 0o755 });
}

function writeStack(canary: Record<string, unknown> | null, config: Record<string, string>): void {
  const ssh = `ssh://root@127.0.0.1:${host.sshPort}`;
  fs.writeFileSync(
    `${host.tmp}/state.json`,
    JSON.stringify({
      stack: "production",
      config,
      history: [],
      outputs: {
        service: "shop",
        stack: "production",
        version: "v1",
        hosts: { "web-1": { name: "web-1", roles: ["web"], ipv4: "127.0.0.1", ssh } },
        roles: { web: { hosts: ["web-1"], container: V1, proxied: true } },
        knownHosts: `[127.0.0.1]:${host.sshPort} ${host.hostKey}\n`,
        canary,
      },
    }),
  );
}

const canaryOutput = (container: string, percent: number) => ({
  version: container.split("-")[3],
  strategy: "traffic",
  percent,
  allowlist: ["staff-1"],
  roles: { web: { service: SERVICE, container, hosts: ["web-1"] } },
});

const berth = (...args: string[]) => berthIn(host.tmp, "production", args, true);

/** A step's script run on the host as the command provider runs it; it must succeed. */
function step(script: string): void {
  const r = host.run(script);
  assert.equal(r.status, 0, r.stderr);
}

const rollout = (container: string, percent: number) =>
  rolloutScript(SERVICE, container, PROXY, { percent, allowlist: ["staff-1"] }, { container: `id-of-${container}` });
const route = (container: string) => routeScript(SERVICE, container, PROXY, { container: `id-of-${container}` });

describe("berth rollout on a real sshd and dockerd", { timeout: 300_000 }, () => {
  before(async () => {
    host = await startLoopback();
    const app = startProxyAndApp(host);
    const start = (name: string, cmd: string[] = []) =>
      host.docker(["run", "-d", "--name", name, "--network", "kamal", "--network-alias", name, app, ...cmd]);
    start(V1);
    start(V2);
    start(V3, ["sh", "-c", "echo v3 cannot reach its database; exec sleep 3600"]);
    writeSshClient(host.tmp);
    // The first deploy: v1 serves, no canary.
    step(route(V1));
  });
  after(async () => host?.stop());

  it("a canary started, its share changed, then aborted: status shows kamal-proxy's live split each time", async () => {
    // kamal-proxy refuses a split without a rollout target, as v0.9.2 does.
    const early = host.run(`docker exec ${PROXY_CONTAINER} kamal-proxy rollout set ${SERVICE} --percent=10`);
    assert.notEqual(early.status, 0);
    assert.match(early.stderr, /rollout target not set/);

    // pulumi up with berth:canary v2: the rollout step runs.
    step(rollout(V2, 10));
    writeStack(canaryOutput(V2, 10), { "berth:canary": "v2" });
    let r = await berth("rollout", "status");
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /canary v2 \(strategy traffic\)/);
    assert.match(r.out, new RegExp(`web-1: ${SERVICE} serves ${V1}:80; 10% \\+ staff-1 to ${V2}:80`));

    // berth rollout set 50: one update, whose changed rollout step sets the new split.
    r = await berth("rollout", "set", "50", "--yes");
    assert.equal(r.code, 0, r.err);
    step(rollout(V2, 50));
    r = await berth("rollout", "status");
    assert.match(r.out, new RegExp(`web-1: ${SERVICE} serves ${V1}:80; 50% \\+ staff-1 to ${V2}:80`));

    // A broken canary: the rollout step fails with its log lines and the split stays on v2.
    const broken = host.run(rollout(V3, 50));
    assert.equal(broken.status, 1);
    assert.match(broken.stderr, /canary shop-web-production-v3-aaaa0003 did not pass its health check/);
    assert.match(broken.stderr, /v3 cannot reach its database/);
    r = await berth("rollout", "status");
    assert.match(r.out, new RegExp(`50% \\+ staff-1 to ${V2}:80`));

    // berth rollout abort: the update deletes the rollout step (rollout stop), then the canary.
    r = await berth("rollout", "abort", "--yes");
    assert.equal(r.code, 0, r.err);
    step(rolloutStopScript(SERVICE));
    host.docker(["rm", "-f", V2]);
    r = await berth("rollout", "status");
    assert.match(r.out, /version v1, no canary running/);
    assert.match(r.out, new RegExp(`web-1: ${SERVICE} serves ${V1}:80; no split`));
  });

  it("promote: the route switches to the canary's container, then the split stops", async () => {
    const app = host.docker(["inspect", "--format", "{{.Config.Image}}", V1]).trim();
    host.docker(["run", "-d", "--name", V2, "--network", "kamal", "--network-alias", V2, app]);
    step(rollout(V2, 10));
    writeStack(canaryOutput(V2, 10), { "berth:canary": "v2" });
    const r = await berth("rollout", "promote", "--yes");
    assert.equal(r.code, 0, r.err);
    // The promoted update: the route step switches to the canary container (kept, same name),
    // the rollout step's delete stops the split, and the old version's container goes last.
    step(route(V2));
    step(rolloutStopScript(SERVICE));
    host.docker(["rm", "-f", V1]);
    const status = await berth("rollout", "status");
    assert.match(status.out, /version v2, no canary running/);
    assert.match(status.out, new RegExp(`web-1: ${SERVICE} serves ${V2}:80; no split`));
    assert.equal(host.docker(["exec", PROXY_CONTAINER, "cat", `/state/${SERVICE}`]).trim(), `${V2}:80`);
  });
});
