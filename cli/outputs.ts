// The stack outputs the command line relies on (index.ts exports them), and which hosts and
// containers a command targets. Read from `pulumi stack output --json`, never from components.
import { HostOutput, StackOutputs } from "../config/outputs";
import { CliError } from "./process";

export type { HostOutput, StackOutputs };

export interface SshEndpoint {
  user: string;
  address: string;
  port: number;
}

/** A container on a host, reached over SSH. */
export interface Target {
  host: string;
  ssh: SshEndpoint;
  container: string;
}

export function readOutputs(json: unknown, stack: string): StackOutputs {
  const o = json as Partial<StackOutputs> | null;
  if (!o || typeof o !== "object" || !o.hosts || !o.roles || !o.service)
    throw new CliError(
      `stack ${stack} has no berth outputs (service, hosts, roles): deploy it first with \`pulumi up -s ${stack}\`.`,
    );
  return o as StackOutputs;
}

/** `ssh://user@203.0.113.5:22` or `ssh://user@[2001:db8::1]:2222`. */
export function parseSshUrl(url: string): SshEndpoint {
  const m = /^ssh:\/\/([^@/]+)@(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(url);
  if (!m)
    throw new CliError(`cannot read the SSH address "${url}" from the stack outputs; expected ssh://user@host:port.`);
  return { user: m[1], address: m[2].replace(/^\[|\]$/g, ""), port: m[3] ? Number(m[3]) : 22 };
}

const known = (names: string[]) => (names.length ? names.join(", ") : "none");

function host(outputs: StackOutputs, name: string): HostOutput {
  const h = outputs.hosts[name];
  if (!h)
    throw new CliError(`no host "${name}" in stack ${outputs.stack}; hosts: ${known(Object.keys(outputs.hosts))}.`);
  return h;
}

/** The app containers a command runs against: one role (web by default), optionally one host. */
export function appTargets(outputs: StackOutputs, opts: { role?: string; host?: string }): Target[] {
  const roleNames = Object.keys(outputs.roles);
  const roleName = opts.role ?? (roleNames.includes("web") ? "web" : roleNames[0]);
  const role = roleName ? outputs.roles[roleName] : undefined;
  if (!role) throw new CliError(`no role "${opts.role}" in stack ${outputs.stack}; roles: ${known(roleNames)}.`);
  return filterHost(role.hosts, role.container, outputs, opts.host, `role ${roleName}`);
}

export function accessoryTargets(outputs: StackOutputs, name: string, hostName?: string): Target[] {
  const all = outputs.accessories ?? {};
  const acc = all[name];
  if (!acc)
    throw new CliError(`no accessory "${name}" in stack ${outputs.stack}; accessories: ${known(Object.keys(all))}.`);
  return filterHost(acc.hosts, acc.container, outputs, hostName, `accessory ${name}`);
}

function filterHost(
  hosts: string[],
  container: string,
  outputs: StackOutputs,
  only: string | undefined,
  what: string,
): Target[] {
  if (only !== undefined) {
    host(outputs, only);
    if (!hosts.includes(only)) throw new CliError(`${what} does not run on host ${only}; it runs on ${known(hosts)}.`);
  }
  return hosts
    .filter((h) => only === undefined || h === only)
    .map((h) => ({ host: h, ssh: parseSshUrl(host(outputs, h).ssh), container }));
}

/** Every host of the stack, for commands that look at all of them. */
export function allHosts(outputs: StackOutputs): { host: string; ssh: SshEndpoint; roles: string[] }[] {
  return Object.entries(outputs.hosts).map(([name, h]) => ({
    host: name,
    ssh: parseSshUrl(h.ssh),
    roles: h.roles ?? [],
  }));
}
