// Command lines of progressive delivery: kamal-proxy's rollout target for a canary, and the checks
// run after a switch. Pure functions from settings to text, like the other files here; every
// result goes through shellcheck in the tests.
//
// kamal-proxy v0.9.2 (basecamp/kamal-proxy, tag v0.9.2), as read there:
// - `kamal-proxy rollout deploy <service> --target=<host:port> [--read-target=...]
//   [--deploy-timeout=<dur>] [--drain-timeout=<dur>]` (internal/cmd/rollout_deploy.go): needs the
//   service to exist (router.go SetRolloutTargets: ErrorServiceNotFound), health-checks the target
//   with the service's own health check within the deploy timeout (router.go createLoadBalancer,
//   WaitUntilHealthy), then puts it in the service's rollout slot, draining the one it replaces.
//   The active target (what `kamal-proxy deploy` sets) is untouched.
// - `kamal-proxy rollout set <service> [--percent=<0..100>] [--list=<a,b>]`
//   (internal/cmd/rollout_set.go; one of the two flags is required): fails without a rollout
//   target (service.go SetRolloutSplit: ErrorRolloutTargetNotSet). A request goes to the rollout
//   target when its `kamal-rollout` cookie value is in the list, or when the FNV-1a hash of that
//   value falls in the first `percent` of the hash space; a request without the cookie always goes
//   to the active target (internal/server/rollout_controller.go RequestUsesRolloutGroup).
// - `kamal-proxy rollout stop <service>` (internal/cmd/rollout_stop.go): drops the split, so every
//   request goes to the active target again; the rollout slot keeps its target (service.go
//   StopRollout sets only the controller to nil).
// - Routes, rollout targets and splits live in kamal-proxy's state file
//   (~/.config/kamal-proxy/kamal-proxy.state in its container: config.go StatePath), written after
//   every change (router.go saveStateSnapshot) as service.go MarshalJSON lays it out:
//   name, active_targets, rollout_targets, rollout_controller {percentage, allowlist}.
// Kamal 2 itself never calls `rollout`: berth drives it.
import { ResolvedProxy } from "../../config/schema";
import { VerifyConfig } from "../../config/rollout";
import { PROXY_CONTAINER } from "../../config/names";
import { shq } from "./shell";

/** `kamal-proxy rollout deploy` flags for a role's canary container. */
export function rolloutDeployArgs(target: string, p: ResolvedProxy): string[] {
  return [
    `--target=${target}:${p.appPort}`,
    `--deploy-timeout=${p.deployTimeout}s`,
    `--drain-timeout=${p.drainTimeout}s`,
  ];
}

/** `kamal-proxy rollout set` flags: the share of requests and the allowlisted cookie values. */
export function rolloutSetArgs(percent: number, allowlist: string[]): string[] {
  return [`--percent=${percent}`, ...(allowlist.length ? [`--list=${allowlist.join(",")}`] : [])];
}

const proxyCall = (args: string[]) => ["docker", "exec", PROXY_CONTAINER, "kamal-proxy", ...args].map(shq).join(" ");

/**
 * The rollout step's script: the canary container becomes the service's rollout target (health
 * checked first; on failure nothing changes and the step fails with the container's last log
 * lines), then the split is set. Headed, like the route step, by the ids of the container and of
 * kamal-proxy's container, so a container or kamal-proxy created again runs it again.
 */
export function rolloutScript(
  service: string,
  container: string,
  p: ResolvedProxy,
  split: { percent: number; allowlist: string[] },
  ids: { container: string; proxy?: string },
): string {
  const share = `${split.percent}%${split.allowlist.length ? ` and cookies ${split.allowlist.join(", ")}` : ""}`;
  return [
    `# berth: rollout ${service} to container ${ids.container}${ids.proxy ? ` through kamal-proxy container ${ids.proxy}` : ""}`,
    "set -eu",
    `if ! ${proxyCall(["rollout", "deploy", service, ...rolloutDeployArgs(container, p)])}; then`,
    `  echo ${shq(`berth: canary ${container} did not pass its health check (GET ${p.healthcheck.path} on port ${p.appPort}) within ${p.deployTimeout}s; every request stays on the current version. Last log lines:`)} >&2`,
    `  docker logs --tail 50 ${shq(container)} >&2 2>&1 || true`,
    "  exit 1",
    "fi",
    proxyCall(["rollout", "set", service, ...rolloutSetArgs(split.percent, split.allowlist)]),
    `echo ${shq(`berth: ${service} sends ${share} of requests with a kamal-rollout cookie to ${container}`)}`,
    "",
  ].join("\n");
}

/**
 * The rollout step's delete: every request to the active target again. A service that is gone
 * (its route removed first) has nothing to stop.
 */
export function rolloutStopScript(service: string): string {
  return `${proxyCall(["rollout", "stop", service])} || true\n`;
}

/** What a host's checks request after a switch. */
export interface VerifyTargets {
  service: string;
  /** The role's public host names (the first is sent); empty: kamal-proxy serves any host. */
  hosts: string[];
  ssl: boolean;
  pathPrefix?: string;
  appPort: number;
  /** Containers to request directly: the route's target and, with a canary, the rollout target. */
  containers: string[];
  /** A cookie value the canary answers (its allowlist), to request it through the route too. */
  canaryCookie?: string;
  /** Ids of what the checks are about: a new switch or rollout target runs them again. */
  ids: string[];
  /** Where kamal-proxy listens on the host (its published ports). */
  proxyPorts?: { http: number; https: number };
}

/**
 * Requests the switched role for `window` seconds, every `interval` seconds; more than
 * `maxFailures` failed requests fail the step with the failures seen. The verdict line is built at
 * run time (`verification $verdict`), so the script's own text, which Pulumi prints with a failed
 * command, never contains it: `berth up --verify` reads it to tell a failed verification from
 * any other failure.
 */
export function verifyScript(v: VerifyConfig & { path: string }, t: VerifyTargets): string {
  const ports = t.proxyPorts ?? { http: 80, https: 443 };
  const path = `${t.pathPrefix && t.pathPrefix !== "/" ? t.pathPrefix.replace(/\/$/, "") : ""}${v.path}`;
  const probes: string[] = [];
  if (v.target !== "container") {
    const name = t.hosts[0];
    const base =
      t.ssl && name
        ? ["--resolve", `${name}:${ports.https}:127.0.0.1`, `https://${name}:${ports.https}${path}`]
        : [...(name ? ["-H", `Host: ${name}`] : []), `http://127.0.0.1:${ports.http}${path}`];
    probes.push(`  probe ${shq(`route ${name ?? "*"}${path}`)} ${base.map(shq).join(" ")}`);
    if (t.canaryCookie)
      probes.push(
        `  probe ${shq(`canary route ${name ?? "*"}${path}`)} -H ${shq(`Cookie: kamal-rollout=${t.canaryCookie}`)} ${base.map(shq).join(" ")}`,
      );
  }
  if (v.target !== "route") {
    for (const c of t.containers) {
      probes.push(
        `  ip=$(docker inspect --format '{{(index .NetworkSettings.Networks "kamal").IPAddress}}' ${shq(c)} 2>/dev/null || true)`,
        `  probe ${shq(`container ${c}${v.path}`)} "http://$ip:${t.appPort}${v.path}"`,
      );
    }
  }
  return [
    `# berth: verify ${t.service} after the switch to ${t.ids.join(", ")}`,
    "set -eu",
    "command -v curl >/dev/null 2>&1 || { echo 'berth: verification needs curl on the host (apt-get install curl)' >&2; exit 1; }",
    "verdict=FAILED",
    "failed=0",
    "checks=0",
    `end=$(( $(date +%s) + ${v.window} ))`,
    "probe() {",
    "  label=$1",
    "  shift",
    "  checks=$((checks + 1))",
    `  if out=$(curl -fsS -o /dev/null --max-time ${v.timeout} "$@" 2>&1); then return 0; fi`,
    "  failed=$((failed + 1))",
    `  echo "berth: $label: $out" >&2`,
    "}",
    "while :; do",
    ...probes,
    `  if [ "$failed" -gt ${v.maxFailures} ]; then`,
    `    echo "berth: verification $verdict: ${t.service}: $failed of $checks requests failed within ${v.window}s (${v.maxFailures} allowed)" >&2`,
    "    exit 1",
    "  fi",
    '  if [ "$(date +%s)" -ge "$end" ]; then break; fi',
    `  sleep ${v.interval}`,
    "done",
    `echo "berth: ${t.service} verified: $checks requests, $failed failed, over ${v.window}s"`,
    "",
  ].join("\n");
}

/**
 * Runs the user's verification command on the deploying machine; a failure is a failed
 * verification (the verdict line as in verifyScript).
 */
export function verifyCommandScript(command: string): string {
  return [
    "set -u",
    "verdict=FAILED",
    `if ! sh -c ${shq(command)}; then`,
    `  echo "berth: verification $verdict: the command ${command.replace(/[\\"$`]/g, "\\$&")} exited non-zero" >&2`,
    "  exit 1",
    "fi",
    "",
  ].join("\n");
}
