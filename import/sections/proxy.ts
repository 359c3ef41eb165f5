// Kamal's proxy section, at the root and on a role, and what follows from it in berth: TLS on
// several web hosts, DNS records and the load balancer.
import { ImportContext } from "../context";
import { isHash, PLACEHOLDER_PREFIX } from "../kamal";

const PROXY_KEYS = [
  "host",
  "hosts",
  "app_port",
  "ssl",
  "ssl_redirect",
  "forward_headers",
  "response_timeout",
  "path_prefix",
  "path_prefixes",
  "strip_path_prefix",
  "healthcheck",
  "buffering",
  "logging",
  "run",
];
const PROXY_RUN_KEYS = [
  "http_port",
  "https_port",
  "metrics_port",
  "debug",
  "log_max_size",
  "publish",
  "bind_ips",
  "registry",
  "repository",
  "version",
  "options",
];

export interface AppProxy {
  proxy: Record<string, unknown>;
  dns?: Record<string, unknown>;
  loadBalancer?: Record<string, unknown>;
}

/** The root proxy, the deploy timeouts, and the DNS records and load balancer they call for. */
export function mapAppProxy(
  ctx: ImportContext,
  kamal: Record<string, unknown>,
  servers: Record<string, Record<string, unknown>>,
  primaryName: string,
): AppProxy {
  const { int, notes, opts, hash, knownKeys, str, skip } = ctx;
  const proxy = kamal.proxy === undefined ? {} : (mapProxy(ctx, kamal.proxy, "proxy", true) ?? {});
  const deployTimeout = int(kamal.deploy_timeout, "deploy_timeout");
  const drainTimeout = int(kamal.drain_timeout, "drain_timeout");
  if (deployTimeout !== undefined) proxy.deployTimeout = deployTimeout;
  if (drainTimeout !== undefined) proxy.drainTimeout = drainTimeout;
  // Kamal 1's root healthcheck (path, port, max_attempts, interval): kamal-proxy's health check.
  const oldCheck = hash(kamal.healthcheck, "healthcheck");
  if (oldCheck) {
    knownKeys(oldCheck, ["path", "port", "max_attempts", "interval", "cmd", "cord", "log_lines"], "healthcheck");
    const hc: Record<string, unknown> = { ...(isHash(proxy.healthcheck) ? proxy.healthcheck : {}) };
    const hcPath = str(oldCheck.path, "healthcheck/path");
    if (hcPath !== undefined) hc.path ??= hcPath;
    const port = int(oldCheck.port, "healthcheck/port");
    if (port !== undefined) hc.port = port;
    const attempts = int(oldCheck.max_attempts, "healthcheck/max_attempts");
    if (attempts !== undefined && proxy.deployTimeout === undefined) hc.maxAttempts = attempts;
    const every = str(oldCheck.interval, "healthcheck/interval");
    const seconds = every === undefined ? undefined : /^([0-9]+)s?$/.exec(every);
    if (seconds) hc.interval ??= Number(seconds[1]);
    else if (every !== undefined) skip("healthcheck/interval", "berth takes the interval in whole seconds");
    for (const k of ["cmd", "cord", "log_lines"])
      if (oldCheck[k] !== undefined)
        skip(`healthcheck/${k}`, "kamal-proxy checks the path over HTTP; there is no command or cord file");
    if (Object.keys(hc).length > 0) proxy.healthcheck = hc;
    notes.push("healthcheck: Kamal 1's root healthcheck, read as kamal-proxy's (berth:proxy.healthcheck)");
  }

  // Several hosts of the primary role: each kamal-proxy answers on its own address, as in Kamal, and
  // kamal-proxy cannot obtain one certificate on several hosts (Kamal refuses it too, role.rb): TLS
  // ends in front of them (Cloudflare's proxy: berth:dns.provider cloudflare).
  const primaryServer = servers[primaryName];
  const webHosts = (primaryServer?.hosts as string[] | undefined) ?? [];
  const webProxyNames = isHash(primaryServer?.proxy) ? (primaryServer.proxy.hosts as string[] | undefined) : undefined;
  const sslElsewhere =
    "kamal-proxy cannot obtain one certificate on several hosts (Kamal refuses it too): each host serves plain HTTP; end TLS in front of them (behind Cloudflare: berth:dns.provider cloudflare and ssl: cloudflare-origin)";
  if (webHosts.length > 1) {
    if (proxy.ssl === true) {
      proxy.ssl = false;
      notes.push(`proxy/ssl: the ${primaryName} role has several hosts, so ${sslElsewhere}`);
    }
    const webProxy = primaryServer?.proxy;
    if (isHash(webProxy) && webProxy.ssl === true) {
      webProxy.ssl = false;
      notes.push(`servers/${primaryName}/proxy/ssl: several hosts, so ${sslElsewhere}`);
    }
  }

  // Kamal's kamal-proxy obtains no certificate unless `ssl: true` (configuration/proxy.rb, ssl?).
  if (proxy.ssl === undefined && !(isHash(kamal.proxy) && isHash(kamal.proxy.ssl))) proxy.ssl = false;

  // --- DNS and load balancer: only with --provision. Kamal had neither; the import adds nothing
  // the configuration does not say, and several web hosts stay reachable one by one as in Kamal.
  const publicNames = ((proxy.hosts as string[] | undefined) ?? webProxyNames ?? []).filter((h) => !h.startsWith("*."));
  let dns: Record<string, unknown> | undefined;
  let loadBalancer: Record<string, unknown> | undefined;
  const serving = primaryServer !== undefined && primaryServer.proxy !== false;
  if (webHosts.length > 1 && serving) {
    loadBalancer = { enabled: false };
    notes.push(
      `servers/${primaryName}: ${webHosts.length} hosts and no load balancer, as in Kamal: each host's kamal-proxy answers on its own address${opts.provision && publicNames.length > 0 ? "; berth:dns lists the records for every host (provider none): with Cloudflare in front set provider: cloudflare, or set berth:loadBalancer.enabled: true for a Hetzner load balancer" : ""}`,
    );
  }
  if (opts.provision) {
    if (publicNames.length > 0) {
      const zoneOf = (h: string) => h.split(".").slice(-2).join(".");
      const counts = new Map<string, number>();
      publicNames.forEach((h) => counts.set(zoneOf(h), (counts.get(zoneOf(h)) ?? 0) + 1));
      const zone = [...counts].sort((a, b) => b[1] - a[1])[0][0];
      const inZone = publicNames.filter((h) => zoneOf(h) === zone);
      // One host: records in Hetzner DNS; several: berth lists the records, the user's DNS holds them.
      if (webHosts.length > 1) {
        dns = { provider: "none", zone, hosts: inZone };
        notes.push(`dns: berth lists the A and AAAA records of ${inZone.join(", ")} for every host (provider none)`);
      } else {
        dns = { zone, hosts: inZone };
        notes.push(
          `dns: records for ${inZone.join(", ")} in the Hetzner DNS zone ${zone} (it must exist there; set createZone: true to create it)`,
        );
      }
      publicNames
        .filter((h) => zoneOf(h) !== zone)
        .forEach((h) => notes.push(`dns: ${h} is outside ${zone}; point it at the web host yourself`));
    }
  }
  return { proxy, dns, loadBalancer };
}

/** A proxy section, at the root (`root`: with `run`, kamal-proxy's own settings) or on a role. */
export function mapProxy(
  ctx: ImportContext,
  value: unknown,
  at: string,
  root: boolean,
): Record<string, unknown> | undefined {
  const { hash, knownKeys, str, strings, int, bool, skip, placeholder } = ctx;
  const p = hash(value, at);
  if (!p) return undefined;
  knownKeys(
    p,
    PROXY_KEYS.filter((k) => root || k !== "run"),
    at,
  );
  const out: Record<string, unknown> = {};
  const host = str(p.host, `${at}/host`);
  const list = host !== undefined ? host.split(",").map((h) => h.trim()) : strings(p.hosts, `${at}/hosts`);
  // A host left unset in ERB keeps the shape of a host name, like an unset address does.
  if (list && list.length > 0)
    out.hosts = list.map((h) => (h.startsWith(PLACEHOLDER_PREFIX) && !h.includes(".") ? `${h}.invalid` : h));
  const appPort = int(p.app_port, `${at}/app_port`);
  if (appPort !== undefined) out.appPort = appPort;
  if (isHash(p.ssl)) {
    skip(`${at}/ssl`, "berth has no custom certificates yet: kamal-proxy obtains Let's Encrypt ones (ssl: true)");
  } else {
    const ssl = bool(p.ssl, `${at}/ssl`);
    if (ssl !== undefined) out.ssl = ssl;
  }
  const sslRedirect = bool(p.ssl_redirect, `${at}/ssl_redirect`);
  if (sslRedirect !== undefined) out.sslRedirect = sslRedirect;
  const forward = bool(p.forward_headers, `${at}/forward_headers`);
  if (forward !== undefined) out.forwardHeaders = forward;
  const responseTimeout = int(p.response_timeout, `${at}/response_timeout`);
  if (responseTimeout !== undefined) out.responseTimeout = responseTimeout;
  const prefixes =
    strings(p.path_prefixes, `${at}/path_prefixes`) ??
    str(p.path_prefix, `${at}/path_prefix`)
      ?.split(",")
      .map((s) => s.trim());
  if (prefixes && prefixes.length > 0) out.pathPrefix = prefixes.length === 1 ? prefixes[0] : prefixes;
  if (p.strip_path_prefix !== undefined) {
    skip(`${at}/strip_path_prefix`, "berth uses kamal-proxy's default (the prefix is stripped)");
  }
  const hc = hash(p.healthcheck, `${at}/healthcheck`);
  if (hc) {
    knownKeys(hc, ["interval", "path", "timeout"], `${at}/healthcheck`);
    const healthcheck: Record<string, unknown> = {};
    const hcPath = str(hc.path, `${at}/healthcheck/path`);
    if (hcPath !== undefined) healthcheck.path = hcPath;
    const interval = int(hc.interval, `${at}/healthcheck/interval`);
    if (interval !== undefined) healthcheck.interval = interval;
    const timeout = int(hc.timeout, `${at}/healthcheck/timeout`);
    if (timeout !== undefined) healthcheck.timeout = timeout;
    out.healthcheck = healthcheck;
  }
  const buf = hash(p.buffering, `${at}/buffering`);
  if (buf) {
    knownKeys(buf, ["requests", "responses", "max_request_body", "max_response_body", "memory"], `${at}/buffering`);
    const buffering: Record<string, unknown> = {};
    const fields: [string, string, "bool" | "int"][] = [
      ["requests", "requests", "bool"],
      ["responses", "responses", "bool"],
      ["max_request_body", "maxRequestBody", "int"],
      ["max_response_body", "maxResponseBody", "int"],
      ["memory", "memory", "int"],
    ];
    for (const [from, to, kind] of fields) {
      const v =
        kind === "bool" ? bool(buf[from], `${at}/buffering/${from}`) : int(buf[from], `${at}/buffering/${from}`);
      if (v !== undefined) buffering[to] = v;
    }
    out.buffering = buffering;
  }
  if (p.logging !== undefined) {
    skip(`${at}/logging`, "berth does not configure kamal-proxy's request and response header logging");
  }
  const run = root ? hash(p.run, `${at}/run`) : undefined;
  if (run) {
    knownKeys(run, PROXY_RUN_KEYS, `${at}/run`);
    const version = str(run.version, `${at}/run/version`);
    const registryHost = str(run.registry, `${at}/run/registry`);
    const repository = str(run.repository, `${at}/run/repository`) ?? "basecamp/kamal-proxy";
    if (version !== undefined || run.registry !== undefined || run.repository !== undefined) {
      const base = registryHost ? `${registryHost}/${repository}` : repository;
      out.image = `${base}:${version ?? placeholder("proxy-version", "the kamal-proxy version, e.g. v0.9.2")}`;
    }
    for (const k of Object.keys(run).filter((k) => !["version", "registry", "repository"].includes(k))) {
      skip(
        `${at}/run/${k}`,
        k === "options"
          ? "berth runs kamal-proxy with its own docker options"
          : "berth runs kamal-proxy on ports 80 and 443 of every proxied host, with its defaults",
      );
    }
  }
  return out;
}
