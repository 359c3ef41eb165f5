// The normalised configuration components receive (DeployConfig) and the transform from the
// checked input to it: hosts resolved to cloud or existing, roles in deploy order, accessories read.
import { commandWords, containerOptions, ContainerOptions } from "../app";
import { SharedServer } from "../attach";
import { DnsConfig } from "../dns";
import { Canary, canaryOf, DeployWindowsConfig, VerifyConfig } from "../rollout";
import { Accessory, Names, normalizeAccessory } from "./accessoryModel";
import { Location, NetworkZone, parseHostKey } from "./hosts";
import type { CheckedStack } from "./input";
import { cloudZones, Edge, edgeOf, mergeEnv, ResolvedEnv, ResolvedProxy, resolveProxy } from "./resolve";

export type CloudHost = {
  kind: "cloud";
  name: string;
  serverType: string;
  location: Location;
  image: string;
  labels: Record<string, string>;
  volumes: Record<string, { size: number; format: "ext4" | "xfs"; mountPath: string }>;
  privateIp?: string;
  stateful: boolean;
  /** Pinned host keys (`type key`) of a server created before berth generated them. */
  hostKeys: string[];
  replace?: "unprotect" | "rebuild";
};
export type ExistingHost = {
  kind: "existing";
  name: string;
  address: string;
  ipv6?: string;
  privateAddress: string;
  stateful: boolean;
  /** Host keys (`type key`) berth verifies the machine with. */
  hostKeys: string[];
  /** A host of the server stack this stack attaches to (berth:attach), as that stack exports it. */
  attached?: {
    stack: string;
    /** Changes when the server stack's machine behind the host changes. */
    generation: string;
    /** Id of the kamal-proxy container the server stack runs there. */
    proxy: string;
    zone?: string;
    ssh: { user: string; port: number };
  };
};
export type HostConfig = CloudHost | ExistingHost;

/**
 * Name of a Hetzner Cloud server, and its hostname: unique per Hetzner project, so it carries
 * the service and stack, and at most 63 characters (one DNS label, RFC 1123).
 */
export function serverName(service: string, stack: string, host: string): string {
  return `${service}-${stack}-${host}`;
}

export interface Role {
  name: string;
  hosts: string[];
  /** Command words replacing the image's command. */
  cmd?: string[];
  env: ResolvedEnv;
  labels: Record<string, string>;
  options: ContainerOptions;
  logging?: { driver?: string; options?: Record<string, string | number> };
  /** Effective kamal-proxy settings; undefined for roles without proxy. */
  proxy?: ResolvedProxy;
  /** Hosts whose containers run with more env than `env` (berth:env.tags): host -> the whole env. */
  hostEnv: Record<string, ResolvedEnv>;
  /** Hosts with their own container labels (berth:hosts.<name>.containerLabels): host -> labels added. */
  hostLabels: Record<string, Record<string, string>>;
}

/** The validated configuration components receive. Secret values are not part of it. */
export interface DeployConfig {
  stack: string;
  service: string;
  image: string;
  version: string;
  hosts: Record<string, HostConfig>;
  /** Roles in deploy order: the primary role first, then the others as configured. */
  roles: Role[];
  /** The primary role (Kamal's primary_role); undefined for a stack without roles. */
  primaryRole?: string;
  servers: Record<string, { hosts: string[] }>;
  ssh: CheckedStack["ssh"];
  dns?: DnsConfig;
  network: CheckedStack["network"] & {
    /** The zone whose network keeps the stack's first network name; undefined without cloud hosts. */
    homeZone?: NetworkZone;
  };
  loadBalancer: Omit<CheckedStack["loadBalancer"], "enabled"> & { enabled: boolean };
  /** The server stack this stack attaches to (berth:attach). */
  attach?: { stack: string };
  registry?: CheckedStack["registry"];
  builder?: CheckedStack["builder"];
  volumes: string[];
  assetPath?: string;
  proxy: { image: string; manage: boolean; sharedHosts: string[] };
  boot: CheckedStack["boot"];
  hooksPath: string;
  retainContainers: number;
  readinessDelay: number;
  maintenance: CheckedStack["maintenance"];
  /** A version rolled out beside `version` (berth:canary, berth:rollout); none when no canary runs. */
  canary?: Canary;
  verify?: VerifyConfig;
  deployWindows?: DeployWindowsConfig;
  accessories: Accessory[];
  /** The user's own `berth` commands: name -> berth command line. */
  aliases: Record<string, string>;
  /** Names of the entries of berth:secrets; values travel separately, as Pulumi secrets. */
  secretNames: string[];
  /** What works but deserves the user's attention (shown as warnings on every run). */
  warnings: string[];
}

/** Turns the checked input into the shape components use (hosts resolved to cloud or existing). */
export function normalize(
  stack: string,
  cfg: CheckedStack & { version: string },
  readFile: (path: string) => string = () => {
    throw new Error("reading accessory files needs a file reader");
  },
  shared?: SharedServer,
): DeployConfig {
  const hosts: Record<string, HostConfig> = {};
  const names = new Names(cfg.service, stack, cfg.attach !== undefined);
  const accessories = Object.entries(cfg.accessories ?? {}).map(([name, acc]) =>
    normalizeAccessory(cfg, name, acc, readFile, names),
  );
  // A host running an accessory holds data: it is always protected.
  const holdsData = new Set(accessories.flatMap((a) => a.hosts));
  for (const [name, h0] of Object.entries(cfg.hosts)) {
    const h = holdsData.has(name) ? { ...h0, stateful: true } : h0;
    if (h.address !== undefined) {
      hosts[name] = {
        kind: "existing",
        name,
        address: h.address,
        ipv6: h.ipv6,
        privateAddress: h.privateAddress ?? h.address,
        stateful: h.stateful ?? false,
        hostKeys: (h.hostKeys ?? []).map((k) => parseHostKey(k)!),
      };
      const from = shared?.hosts[name];
      if (shared && from)
        hosts[name] = {
          ...hosts[name],
          kind: "existing",
          attached: {
            stack: shared.stack,
            generation: from.generation,
            proxy: from.proxy,
            zone: from.zone ?? undefined,
            ssh: shared.ssh,
          },
        };
    } else {
      hosts[name] = {
        kind: "cloud",
        name,
        serverType: h.serverType!,
        location: h.location!,
        image: h.image ?? "ubuntu-24.04",
        labels: h.labels ?? {},
        volumes: Object.fromEntries(
          Object.entries(h.volumes ?? {}).map(([v, vol]) => [
            v,
            { size: vol.size, format: vol.format, mountPath: vol.mountPath ?? `/mnt/berth/${v}` },
          ]),
        ),
        privateIp: h.privateIp,
        stateful: h.stateful ?? false,
        hostKeys: (h.hostKeys ?? []).map((k) => parseHostKey(k)!),
        replace: h.replace,
      };
    }
  }
  const edge = edgeOf(cfg);
  const primary = edge.primary;
  const order = primary ? [primary, ...Object.keys(cfg.servers).filter((r) => r !== primary)] : [];
  const roles: Role[] = order.map((name) => {
    const def = cfg.servers[name];
    const proxy = resolveProxy(name, def, cfg.proxy, edge);
    if (proxy?.origin) proxy.certificate = proxyCertificatePaths(cfg.service, name, stack);
    const hostEnv: Record<string, ResolvedEnv> = {};
    const hostLabels: Record<string, Record<string, string>> = {};
    for (const host of def.hosts) {
      const tagEnvs = (cfg.hosts[host]?.tags ?? []).map((t) => cfg.env?.tags?.[t]).filter((e) => e !== undefined);
      if (tagEnvs.length > 0) hostEnv[host] = mergeEnv(cfg.env, def.env, ...tagEnvs);
      const labels = cfg.hosts[host]?.containerLabels;
      if (labels && Object.keys(labels).length > 0) hostLabels[host] = labels;
    }
    return {
      name,
      hosts: def.hosts,
      cmd: def.cmd ? commandWords(def.cmd) : undefined,
      env: mergeEnv(cfg.env, def.env),
      labels: def.labels ?? {},
      options: containerOptions(def.options ?? {}),
      logging: def.logging,
      proxy,
      hostEnv,
      hostLabels,
    };
  });
  const zones = cloudZones(cfg);
  return {
    stack,
    service: cfg.service,
    image: cfg.image ?? "",
    version: cfg.version,
    hosts,
    primaryRole: primary,
    servers: cfg.servers,
    ssh: cfg.ssh,
    dns: edge.dns,
    network: { ...cfg.network, homeZone: cfg.network.zone ?? zones[0] },
    loadBalancer: { ...cfg.loadBalancer, enabled: edge.loadBalancer },
    attach: cfg.attach,
    roles,
    registry: cfg.registry,
    builder: cfg.builder,
    volumes: (cfg.volumes ?? []).map((v) => names.mount(v)),
    assetPath: cfg.assetPath,
    proxy: { image: cfg.proxy.image, manage: cfg.proxy.manage, sharedHosts: cfg.proxy.sharedHosts ?? [] },
    boot: cfg.boot,
    hooksPath: cfg.hooks.path,
    retainContainers: cfg.retainContainers,
    readinessDelay: cfg.readinessDelay,
    maintenance: cfg.maintenance,
    canary: canaryOf(cfg.canary, cfg.rollout),
    verify: cfg.verify,
    deployWindows: cfg.deployWindows,
    accessories,
    aliases: cfg.aliases ?? {},
    secretNames: Object.keys(cfg.secrets),
    warnings: edgeWarnings(roles, edge),
  };
}

/**
 * Where kamal-proxy reads a certificate berth installs for a role: in its own state volume
 * (kamal-proxy-config), which outlives the proxy container, one directory per service.
 */
export function proxyCertificatePaths(service: string, role: string, stack: string) {
  const dir = `${PROXY_STATE_DIR}/berth-tls/${service}-${role}-${stack}`;
  return { certificatePath: `${dir}/cert.pem`, privateKeyPath: `${dir}/key.pem` };
}

/** Where the kamal-proxy image keeps its state; berth mounts the kamal-proxy-config volume there. */
export const PROXY_STATE_DIR = "/home/kamal-proxy/.config/kamal-proxy";

/** How the primary role's TLS behind Cloudflare works, when it only works with Cloudflare's help. */
function edgeWarnings(roles: Role[], edge: Edge): string[] {
  const role = roles.find((r) => r.name === edge.primary);
  if (!role?.proxy || !edge.dns?.proxied) return [];
  const names = role.proxy.hosts.join(", ");
  if (role.proxy.ssl && !role.proxy.origin)
    return [
      `role ${role.name} gets Let's Encrypt certificates for ${names} behind proxied Cloudflare records: Let's Encrypt's HTTP challenge must reach the server through Cloudflare on port 80, so no "Always Use HTTPS" redirect, page rule or WAF rule may catch /.well-known/acme-challenge/, now and at every renewal. ssl: cloudflare-origin needs none of that.`,
    ];
  if (!role.proxy.ssl)
    return [
      `role ${role.name} serves plain HTTP behind proxied Cloudflare records: set the zone's SSL/TLS mode to Flexible (Full and Full (strict) reach port 443 and fail with 525), and know that Flexible sends visitors' traffic between Cloudflare and the server unencrypted. ssl: cloudflare-origin with Full (strict) encrypts it.`,
    ];
  return [];
}
