// Command lines that drive kamal-proxy on a host: deploy (the health-checked switch), the route
// step, remove, and the maintenance page (stop/resume).
import { PROXY_CONTAINER } from "../../config/names";
import { ResolvedProxy } from "../../config/schema";
import { shq } from "./shell";

/** The kamal-proxy service a role's containers are deployed under. */
export function proxyService(service: string, role: string, stack: string): string {
  return `${service}-${role}-${stack}`;
}

/** `kamal-proxy deploy` flags for a role, as Kamal 2 passes them. */
export function proxyDeployArgs(target: string, p: ResolvedProxy): string[] {
  const args = [`--target=${target}:${p.appPort}`];
  for (const host of p.hosts) args.push(`--host=${host}`);
  for (const prefix of p.pathPrefixes) args.push(`--path-prefix=${prefix}`);
  if (p.ssl) args.push("--tls", `--tls-redirect=${p.sslRedirect}`);
  if (p.ssl && p.certificate)
    args.push(
      `--tls-certificate-path=${p.certificate.certificatePath}`,
      `--tls-private-key-path=${p.certificate.privateKeyPath}`,
    );
  args.push(
    `--deploy-timeout=${p.deployTimeout}s`,
    `--drain-timeout=${p.drainTimeout}s`,
    `--health-check-path=${p.healthcheck.path}`,
    `--health-check-interval=${p.healthcheck.interval}s`,
    `--health-check-timeout=${p.healthcheck.timeout}s`,
    ...(p.healthcheck.port !== undefined ? [`--health-check-port=${p.healthcheck.port}`] : []),
    `--target-timeout=${p.responseTimeout}s`,
    `--buffer-requests=${p.buffering.requests}`,
    `--buffer-responses=${p.buffering.responses}`,
  );
  if (p.buffering.memory !== undefined) args.push(`--buffer-memory=${p.buffering.memory}`);
  if (p.buffering.maxRequestBody !== undefined) args.push(`--max-request-body=${p.buffering.maxRequestBody}`);
  if (p.buffering.maxResponseBody !== undefined) args.push(`--max-response-body=${p.buffering.maxResponseBody}`);
  if (p.forwardHeaders !== undefined) args.push(`--forward-headers=${p.forwardHeaders}`);
  return args;
}

/**
 * Switches a role's traffic on this host to `container`: kamal-proxy health-checks it, moves
 * traffic over and drains the old one. On failure the old version keeps serving and the
 * update fails with the container's last log lines.
 */
export function proxySwitchScript(service: string, container: string, p: ResolvedProxy): string {
  const deploy = [
    "docker",
    "exec",
    PROXY_CONTAINER,
    "kamal-proxy",
    "deploy",
    service,
    ...proxyDeployArgs(container, p),
  ];
  return [
    "set -eu",
    `if ! ${deploy.map(shq).join(" ")}; then`,
    `  echo ${shq(`berth: ${container} did not pass its health check (GET ${p.healthcheck.path} on port ${p.appPort}) within ${p.deployTimeout}s; the previous version keeps serving. Last log lines:`)} >&2`,
    `  docker logs --tail 50 ${shq(container)} >&2 2>&1 || true`,
    "  exit 1",
    "fi",
    `echo ${shq(`berth: ${service} now served by ${container}`)}`,
    "",
  ].join("\n");
}

/**
 * The route step's script: the switch to `container`, headed by the ids of the container and of
 * kamal-proxy's container. The step records in Pulumi's state what it last routed to; the ids
 * make a container or a kamal-proxy created again (a replaced server, whose kamal-proxy starts
 * empty) a change of its script, so the route is asserted again. Changing the script updates the
 * step in place; it is never replaced, since a replacement would delete the old step and with
 * it (its delete) the route.
 */
export function routeScript(
  service: string,
  container: string,
  p: ResolvedProxy,
  ids: { container: string; proxy?: string; certificate?: string },
): string {
  return [
    `# berth: route ${service} to container ${ids.container}${ids.proxy ? ` through kamal-proxy container ${ids.proxy}` : ""}${ids.certificate ? ` with certificate ${ids.certificate}` : ""}`,
    proxySwitchScript(service, container, p),
  ].join("\n");
}

/** Removes a role's route from kamal-proxy: the one place a route is ever removed. */
export function proxyRemoveScript(service: string): string {
  return `docker exec ${PROXY_CONTAINER} kamal-proxy remove ${shq(service)} || true\n`;
}

/** Puts the role behind kamal-proxy's maintenance page, or takes it back out. */
export function maintenanceScript(service: string, on: boolean, drainTimeout: number, message?: string): string {
  if (!on) return `docker exec ${PROXY_CONTAINER} kamal-proxy resume ${shq(service)}\n`;
  const args = [`--drain-timeout=${drainTimeout}s`, ...(message ? [`--message=${message}`] : [])];
  return `docker exec ${PROXY_CONTAINER} kamal-proxy stop ${shq(service)} ${args.map(shq).join(" ")}\n`;
}
