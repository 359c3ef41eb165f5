// Settings derived from the input that both the rules and the model need: the primary role, DNS and
// load balancer (the edge), each role's effective proxy and env, where accessories run.
import { AccessoryInput } from "../accessory";
import { EnvConfig, ORIGIN_CERTIFICATE, ProxyConfig, RoleConfig, RoleProxyConfig } from "../app";
import { DnsConfig, resolveDns } from "../dns";
import { LOCATIONS, NetworkZone } from "./hosts";
import type { CheckedStack } from "./input";

/** Hosts an accessory runs on, from host, hosts or roles. */
export function accessoryHosts(cfg: Pick<CheckedStack, "servers">, acc: AccessoryInput): string[] {
  if (acc.host !== undefined) return [acc.host];
  if (acc.hosts) return [...new Set(acc.hosts)];
  return [...new Set((acc.roles ?? []).flatMap((r) => cfg.servers[r]?.hosts ?? []))];
}

/** A role's effective kamal-proxy settings, or undefined when the role is not proxied. */
export interface ResolvedProxy {
  hosts: string[];
  /** TLS at kamal-proxy: Let's Encrypt, or the certificate below. */
  ssl: boolean;
  /** TLS with a Cloudflare Origin CA certificate berth requests and installs. */
  origin?: boolean;
  /** Where kamal-proxy reads a certificate berth installs (paths in its container). */
  certificate?: { certificatePath: string; privateKeyPath: string };
  sslRedirect: boolean;
  appPort: number;
  healthcheck: { path: string; interval: number; timeout: number; port?: number };
  responseTimeout: number;
  buffering: {
    requests: boolean;
    responses: boolean;
    memory?: number;
    maxRequestBody?: number;
    maxResponseBody?: number;
  };
  forwardHeaders?: boolean;
  pathPrefixes: string[];
  deployTimeout: number;
  drainTimeout: number;
}

/** What decides where the primary role's traffic comes from: DNS and the load balancer. */
export interface Edge {
  /** The primary role; undefined for a stack without roles. */
  primary?: string;
  /** The role proxied unless its proxy is false: web, or the one berth:primaryRole names. */
  proxiedByDefault?: string;
  dns?: DnsConfig;
  /** Whether a Hetzner load balancer fronts the primary role. */
  loadBalancer: boolean;
}

/** Kamal's primary_role: the configured one, else web when there is one, else the first role. */
export function primaryRoleOf(cfg: { primaryRole?: string; servers: Record<string, unknown> }): string | undefined {
  const roles = Object.keys(cfg.servers);
  if (cfg.primaryRole !== undefined && roles.includes(cfg.primaryRole)) return cfg.primaryRole;
  return roles.includes("web") ? "web" : roles[0];
}

export function edgeOf(cfg: CheckedStack): Edge {
  const primary = primaryRoleOf(cfg);
  const dns = resolveDns(cfg.dns);
  const hostCount = primary ? cfg.servers[primary].hosts.length : 0;
  const loadBalancer =
    primary !== undefined && (cfg.loadBalancer.enabled ?? (hostCount > 1 && dns?.provider === "hetzner"));
  return { primary, proxiedByDefault: cfg.primaryRole ?? (cfg.servers.web ? "web" : undefined), dns, loadBalancer };
}

export function resolveProxy(role: string, def: RoleConfig, app: ProxyConfig, edge: Edge): ResolvedProxy | undefined {
  // As Kamal (configuration/role.rb): the primary role is proxied unless its proxy is false, other
  // roles only when set. Kamal's primary role is web unless named; a stack without web and without
  // berth:primaryRole (Kamal refuses one) proxies nothing by default, such as a stack of workers.
  const proxied = def.proxy === undefined ? role === edge.proxiedByDefault : def.proxy !== false;
  if (!proxied) return undefined;
  const over: RoleProxyConfig = typeof def.proxy === "object" ? def.proxy : {};
  const pick = <K extends keyof RoleProxyConfig>(k: K): RoleProxyConfig[K] =>
    over[k] !== undefined ? over[k] : app[k];
  const hosts = pick("hosts") ?? edge.dns?.hosts ?? [];
  const primary = role === edge.primary;
  // Behind the load balancer TLS ends there, so kamal-proxy serves plain HTTP.
  const behindLoadBalancer = primary && edge.loadBalancer;
  const behindCloudflare = primary && edge.dns?.proxied === true;
  const chosen = pick("ssl");
  const ssl =
    chosen === undefined ? !behindLoadBalancer && def.hosts.length === 1 && hosts.length > 0 : chosen !== false;
  const prefix = pick("pathPrefix");
  const interval = over.healthcheck?.interval ?? app.healthcheck?.interval ?? 1;
  const maxAttempts = over.healthcheck?.maxAttempts ?? app.healthcheck?.maxAttempts;
  const port = over.healthcheck?.port ?? app.healthcheck?.port;
  return {
    hosts,
    ssl,
    origin: chosen === ORIGIN_CERTIFICATE,
    sslRedirect: pick("sslRedirect") ?? true,
    appPort: pick("appPort") ?? 80,
    healthcheck: {
      path: over.healthcheck?.path ?? app.healthcheck?.path ?? "/up",
      interval,
      timeout: over.healthcheck?.timeout ?? app.healthcheck?.timeout ?? 5,
      ...(port !== undefined ? { port } : {}),
    },
    responseTimeout: pick("responseTimeout") ?? 30,
    buffering: {
      requests: true,
      responses: true,
      ...app.buffering,
      ...over.buffering,
    },
    // The client's address and scheme arrive in X-Forwarded-* from the load balancer or Cloudflare.
    forwardHeaders: pick("forwardHeaders") ?? (behindLoadBalancer || behindCloudflare ? true : undefined),
    pathPrefixes: prefix === undefined ? [] : Array.isArray(prefix) ? prefix : [prefix],
    deployTimeout: pick("deployTimeout") ?? (maxAttempts !== undefined ? interval * maxAttempts : 30),
    drainTimeout: pick("drainTimeout") ?? 30,
  };
}

/** Network zones of the stack's Hetzner Cloud hosts, in host order. */
export function cloudZones(cfg: Pick<CheckedStack, "hosts">): NetworkZone[] {
  return [
    ...new Set(
      Object.values(cfg.hosts)
        .map((h) => (h.location ? LOCATIONS[h.location] : undefined))
        .filter((zone): zone is NetworkZone => zone !== undefined),
    ),
  ];
}

/** An environment variable and where its value comes from. */
export interface ResolvedEnv {
  clear: Record<string, string>;
  /** Variable name -> name of the berth:secrets entry holding its value. */
  secret: Record<string, string>;
}

/** Role env over app env, as Kamal merges them: a role's value wins for the same name. */
export function mergeEnv(...envs: (EnvConfig | undefined)[]): ResolvedEnv {
  const out: ResolvedEnv = { clear: {}, secret: {} };
  for (const env of envs) {
    for (const [k, v] of Object.entries(env?.clear ?? {})) {
      out.clear[k] = String(v);
      delete out.secret[k];
    }
    for (const entry of env?.secret ?? []) {
      const [name, secret] = entry.split(":");
      out.secret[name] = secret ?? name;
      delete out.clear[name];
    }
  }
  return out;
}
