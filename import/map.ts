// Turns a loaded Kamal configuration into berth stack configuration. Every Kamal key is either
// mapped, or reported with the reason it has no equivalent yet; nothing is dropped silently.
import * as path from "node:path";
import { commandWords, reservedLabel, RUN_OPTIONS } from "../config/app";
import { FINGERPRINT_KEY } from "../config/schema";
import { pinnedImage, privateAddress } from "../config/accessory";
import { isHash, KamalConfigError, Placeholder, PLACEHOLDER_PREFIX } from "./kamal";

export interface Unmapped {
  /** Kamal path, e.g. `proxy/run/http_port`. */
  key: string;
  reason: string;
}

export interface SecretNeed {
  name: string;
  /** Where the stack uses it, e.g. `env/secret` or `registry/password`. */
  usedBy: string;
}

export interface ImportOptions {
  /** Turn every host into a new Hetzner Cloud server of this type and location. */
  provision?: { serverType: string; location: string };
  /** Image tag to deploy; Kamal takes it from git at deploy time. */
  version?: string;
  /** OpenSSH public key line for berth:ssh.publicKey. */
  publicKey?: string;
  /** Kamal project directory relative to the stack file's directory, for local paths. */
  projectPath?: string;
  /** Placeholders the loader already wrote (unset ERB variables). */
  placeholders?: Placeholder[];
}

export interface ImportResult {
  /** berth configuration without the `berth:` prefix, in the order it is written. */
  config: Record<string, unknown>;
  unmapped: Unmapped[];
  /** Changes of meaning the user should know about (a public port made private, ...). */
  notes: string[];
  secrets: SecretNeed[];
  placeholders: Placeholder[];
}

const ROOT_KEYS = [
  "service",
  "image",
  "labels",
  "volumes",
  "registry",
  "servers",
  "env",
  "asset_path",
  "hooks_path",
  "hooks_output",
  "secrets_path",
  "error_pages_path",
  "require_destination",
  "primary_role",
  "allow_empty_roles",
  "retain_containers",
  "minimum_version",
  "readiness_delay",
  "deploy_timeout",
  "drain_timeout",
  "stop_timeout",
  "run_directory",
  "ssh",
  "builder",
  "accessories",
  "proxy",
  "sshkit",
  "boot",
  "logging",
  "output",
  "aliases",
];
const ROLE_KEYS = ["hosts", "cmd", "stop_timeout", "options", "logging", "proxy", "labels", "env", "asset_path"];
const REGISTRY_KEYS = ["server", "username", "password"];
const BUILDER_KEYS = [
  "arch",
  "remote",
  "local",
  "pack",
  "cache",
  "context",
  "dockerfile",
  "target",
  "args",
  "secrets",
  "ssh",
  "driver",
  "provenance",
  "sbom",
];
const SSH_KEYS = [
  "user",
  "port",
  "proxy",
  "proxy_command",
  "log_level",
  "keys_only",
  "keys",
  "key_data",
  "config",
  "forward_agent",
];
const BOOT_KEYS = ["limit", "wait", "parallel_roles"];
const LOGGING_KEYS = ["driver", "options"];
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
const ACCESSORY_KEYS = [
  "service",
  "image",
  "registry",
  "host",
  "hosts",
  "role",
  "roles",
  "tag",
  "tags",
  "cmd",
  "port",
  "labels",
  "options",
  "env",
  "files",
  "directories",
  "volumes",
  "network",
  "proxy",
];

/** Why a Kamal key has no berth equivalent yet, by key (the last segment of its path). */
const NO_EQUIVALENT: Record<string, string> = {
  hooks_output: "berth shows hook output in the Pulumi log; there is no quiet/verbose switch",
  secrets_path: "berth reads secrets from berth:secrets (Pulumi secret config), not from .kamal/secrets",
  error_pages_path: "berth does not upload custom error pages to kamal-proxy yet",
  require_destination: "a berth stack is always chosen explicitly (pulumi stack select)",
  allow_empty_roles: "every berth role lists at least one host",
  minimum_version: "a Kamal version check; berth's version is the project's own",
  stop_timeout: "berth stops containers with docker's default timeout",
  run_directory: "berth keeps its state on hosts in its own fixed directories",
  sshkit: "berth's SSH steps run through Pulumi, without SSHKit tuning",
  output: "berth logs through Pulumi; no OpenTelemetry or file output settings",
};

/** berth's own commands; an alias may not take one of these names. */
export const BUILT_IN_COMMANDS = [
  "history",
  "rollback",
  "maintenance",
  "logs",
  "exec",
  "console",
  "shell",
  "dbc",
  "details",
  "accessory",
  "plan",
  "import",
  "init",
  "doctor",
  "up",
  "preview",
  "rollout",
  "fleet",
  "help",
];

const quote = (w: string) => (/^[A-Za-z0-9_./:=@%+-]+$/.test(w) ? w : `'${w.replace(/'/g, `'"'"'`)}'`);

/** The berth command line for a kamal one, or why there is none. */
export function aliasCommand(words: string[]): string | { reason: string } {
  if (words[0] === "details") words = ["app", ...words];
  const [group, verb, ...rest] = words;
  const args: string[] = [];
  const positional: string[] = [];
  const flagsWithValue = ["-r", "--roles", "-h", "--hosts", "-n", "--lines", "-g", "--grep", "-d", "--destination"];
  for (let i = 0; i < rest.length; i++) {
    const w = rest[i];
    if (flagsWithValue.includes(w)) {
      const v = rest[++i];
      if (w === "-r" || w === "--roles") args.push("--role", quote(v));
      else if (w === "-h" || w === "--hosts")
        return { reason: "names hosts by address; berth's --host takes a host name" };
      else if (w === "-n" || w === "--lines") args.push("--lines", quote(v));
      else if (w === "-g" || w === "--grep") args.push("--grep", quote(v));
      else return { reason: "chooses a Kamal destination; a berth stack is chosen with --stack" };
    } else if (w === "-i" || w === "--interactive") args.push("--interactive");
    else if (w === "-f" || w === "--follow") args.push("--follow");
    else if (["--reuse", "-p", "--primary", "-q", "--quiet", "-v", "--verbose"].includes(w)) continue;
    else if (w.startsWith("-")) return { reason: `the option ${w} has no berth equivalent` };
    else positional.push(w);
  }
  const line = (cmd: string[]) => [...cmd, ...args, ...positional.map(quote)].join(" ");
  if (group === "app" && (verb === "exec" || verb === "logs")) return line([verb]);
  if (group === "app" && verb === "details") return args.length || positional.length ? line(["details"]) : "details";
  if (group === "accessory" && ["exec", "logs", "details"].includes(verb)) return line(["accessory", verb]);
  return {
    reason: `\`kamal ${words.join(" ")}\` has no berth command of the same meaning; deploys and rollbacks are \`pulumi up\` and \`berth rollback\``,
  };
}

const lower = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");

/** Key data of type ssh-ed25519 that is no machine's key (it spells "FillInTheHostKeyOfThisMachine"). */
const HOST_KEY_STAND_IN = Buffer.concat(
  [Buffer.from("ssh-ed25519"), Buffer.from("FillInTheHostKeyOfThisMachine!!!")].map((b) =>
    Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]),
  ),
).toString("base64");

export function mapKamal(kamal: Record<string, unknown>, opts: ImportOptions = {}): ImportResult {
  const problems: string[] = [];
  const unmapped: Unmapped[] = [];
  const notes: string[] = [];
  const secrets: SecretNeed[] = [];
  const placeholders: Placeholder[] = [...(opts.placeholders ?? [])];
  const projectPath = opts.projectPath ?? ".";
  const local = (p: string) => (projectPath === "." || path.isAbsolute(p) ? p : path.posix.join(projectPath, p));

  const problem = (at: string, message: string) => problems.push(`${at}: ${message}`);
  const skip = (key: string, reason: string) => unmapped.push({ key, reason });
  const needSecret = (name: string, usedBy: string) => {
    if (!secrets.some((s) => s.name === name)) secrets.push({ name, usedBy });
  };
  const placeholder = (name: string, what: string) => {
    const value = `${PLACEHOLDER_PREFIX}${lower(name)}`;
    if (!placeholders.some((p) => p.value === value)) placeholders.push({ value, what });
    return value;
  };
  const knownKeys = (obj: Record<string, unknown>, known: string[], at: string) => {
    const unknown = Object.keys(obj).filter((k) => !known.includes(k));
    if (unknown.length > 0) problem(at, `unknown key${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")}`);
  };
  const hash = (v: unknown, at: string): Record<string, unknown> | undefined => {
    if (v === undefined || v === null) return undefined;
    if (!isHash(v)) {
      problem(at, "should be a hash");
      return undefined;
    }
    return v;
  };
  const str = (v: unknown, at: string): string | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return String(v);
    problem(at, "should be a string");
    return undefined;
  };
  const int = (v: unknown, at: string): number | undefined => {
    if (v === undefined || v === null) return undefined;
    const n = typeof v === "string" && /^[0-9_]+$/.test(v) ? Number(v.replace(/_/g, "")) : v;
    if (typeof n !== "number" || !Number.isInteger(n)) {
      problem(at, "should be an integer");
      return undefined;
    }
    return n;
  };
  const bool = (v: unknown, at: string): boolean | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "boolean") {
      problem(at, "should be a boolean");
      return undefined;
    }
    return v;
  };
  const strings = (v: unknown, at: string): string[] | undefined => {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) {
      problem(at, "should be an array");
      return undefined;
    }
    return v.flatMap((item, i) => str(item, `${at}/${i}`) ?? []);
  };

  if (!isHash(kamal)) throw new KamalConfigError(["should be a hash of settings"]);
  knownKeys(kamal, ROOT_KEYS, "root");
  for (const key of Object.keys(NO_EQUIVALENT)) {
    if (kamal[key] !== undefined) skip(key, NO_EQUIVALENT[key]);
  }

  // --- service, image, version
  const service = str(kamal.service, "service");
  if (service === undefined) problem("service", "required");
  let image = str(kamal.image, "image");
  if (image === undefined) problem("image", "required");
  let version = opts.version;
  const tagged = image === undefined ? null : /^(.*\/)?([^/:@]+):([A-Za-z0-9_][A-Za-z0-9_.-]*)$/.exec(image);
  if (tagged && image) {
    image = image.slice(0, image.lastIndexOf(":"));
    version ??= tagged[3];
    notes.push(`image: the tag ${tagged[3]} moved from the image name to berth:version`);
  }
  version ??= placeholder("version", "the image tag to deploy (Kamal takes it from git; berth from berth:version)");

  // --- registry
  const registryIn = hash(kamal.registry, "registry");
  let registry: Record<string, unknown> | undefined;
  if (registryIn) {
    knownKeys(registryIn, REGISTRY_KEYS, "registry");
    const server = str(registryIn.server, "registry/server");
    if (server !== undefined && /^localhost(:|$)/.test(server)) {
      // The image keeps its local registry, so nothing is ever pushed to Docker Hub instead.
      if (image !== undefined && !image.startsWith(`${server}/`)) image = `${server}/${image}`;
      notes.push(
        `registry/server: ${server} is Kamal's local registry, which Kamal's hosts reach through an SSH tunnel; berth opens no tunnel, so each host pulls ${server}/... from its own ${server}: run a registry there, or push to one the hosts can reach and set berth:image and berth:registry`,
      );
    } else {
      const user = registryIn.username;
      let username: string | undefined;
      if (Array.isArray(user)) {
        username = placeholder(
          "registry-username",
          `the registry user name (Kamal read it from the secret ${user[0]})`,
        );
      } else username = str(user, "registry/username");
      const pass = registryIn.password;
      let passwordSecret: string | undefined;
      if (Array.isArray(pass)) passwordSecret = str(pass[0], "registry/password/0");
      else if (pass !== undefined) {
        passwordSecret = "KAMAL_REGISTRY_PASSWORD";
        notes.push(
          "registry/password: the value written in the Kamal config is not copied; set it as the secret KAMAL_REGISTRY_PASSWORD",
        );
      }
      if (username !== undefined && passwordSecret !== undefined) {
        registry = { server: server ?? "docker.io", username, passwordSecret };
        needSecret(passwordSecret, "registry/password");
      } else if (server !== undefined) {
        skip("registry", "berth's registry needs both username and password; the image is pulled anonymously");
      }
      if (image !== undefined && server !== undefined && !image.startsWith(`${server}/`)) image = `${server}/${image}`;
    }
  }

  // --- servers, roles and hosts
  const hosts: Record<string, Record<string, unknown>> = {};
  const nameOf = new Map<string, string>();
  const counters = new Map<string, number>();
  const tagsOf = new Map<string, Set<string>>();
  const hostFor = (address: string, prefix: string): string => {
    const known = nameOf.get(address);
    if (known) return known;
    const base = lower(prefix).slice(0, 50) || "host";
    const n = (counters.get(base) ?? 0) + 1;
    counters.set(base, n);
    const name = `${base}-${n}`;
    nameOf.set(address, name);
    if (opts.provision) {
      hosts[name] = { serverType: opts.provision.serverType, location: opts.provision.location };
    } else {
      // An address left unset in ERB still has to look like a host name to pass validation.
      const unset = placeholders.find((p) => p.value === address);
      // berth verifies an existing machine's host key: a stand-in that parses as a key but matches
      // no machine. Its placeholder comment stops validation; were only the comment edited, the
      // first connection would still stop.
      const hostKey = placeholder(
        `${name}-host-key`,
        `the SSH host key of host ${name}: \`ssh-keyscan -t ed25519 <its address>\`, checked against the fingerprint its console shows (\`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\`)`,
      );
      hosts[name] = {
        address: unset ? `${address}.invalid` : address,
        hostKeys: [`ssh-ed25519 ${HOST_KEY_STAND_IN} ${hostKey}`],
      };
      if (unset) unset.what = `the address of host ${name} (${unset.what})`;
    }
    return name;
  };
  const hostEntries = (list: unknown, at: string, role: string): string[] => {
    if (!Array.isArray(list)) {
      problem(at, "should be an array");
      return [];
    }
    return list.flatMap((entry, i) => {
      if (typeof entry === "string") return [hostFor(entry, role)];
      if (isHash(entry)) {
        const keys = Object.keys(entry);
        if (keys.length !== 1) {
          problem(`${at}/${i}`, "multiple hosts found");
          return [];
        }
        const [address] = keys;
        const tags = entry[address];
        const list = typeof tags === "string" ? [tags] : Array.isArray(tags) ? tags.map(String) : undefined;
        if (!list) problem(`${at}/${i}/${address}`, "should be a string or an array");
        const set = tagsOf.get(address) ?? new Set<string>();
        list?.forEach((t) => set.add(t));
        tagsOf.set(address, set);
        return [hostFor(address, role)];
      }
      problem(`${at}/${i}`, "should be a string or a hash");
      return [];
    });
  };

  const rootLabels = hash(kamal.labels, "labels");
  const rootLogging = mapLogging(kamal.logging, "logging");
  const serversIn = kamal.servers;
  const roleDefs: [string, unknown][] = Array.isArray(serversIn)
    ? [["web", serversIn]]
    : isHash(serversIn)
      ? Object.entries(serversIn)
      : [];
  if (serversIn === undefined) problem("servers", "required");
  else if (!Array.isArray(serversIn) && !isHash(serversIn)) problem("servers", "should be an array or a hash");

  // berth's primary role is always `web`; Kamal's primary role is renamed to it when web is absent.
  const primary = str(kamal.primary_role, "primary_role");
  const roleNames = roleDefs.map(([r]) => r);
  const rename = new Map<string, string>();
  if (roleNames.length > 0 && !roleNames.includes("web")) {
    const from = primary !== undefined && roleNames.includes(primary) ? primary : roleNames[0];
    rename.set(from, "web");
    notes.push(`servers/${from}: renamed to web, berth's primary role`);
  }
  // Kamal proxies its primary role unless told not to, and other roles only when told to.
  const proxiedPrimary = primary !== undefined && primary !== "web" && roleNames.includes("web") ? primary : undefined;
  const roleName = (r: string) =>
    rename.get(r) ??
    r
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, "-")
      .replace(/^[^a-z]+/, "");

  const servers: Record<string, Record<string, unknown>> = {};
  for (const [kamalRole, def] of roleDefs) {
    const at = `servers/${kamalRole}`;
    const role = roleName(kamalRole);
    const out: Record<string, unknown> = {};
    if (role !== kamalRole && !rename.has(kamalRole)) notes.push(`${at}: role renamed to ${role}`);
    if (Array.isArray(def)) {
      out.hosts = hostEntries(def, at, role);
      if (proxiedPrimary !== undefined && kamalRole === "web") {
        out.proxy = false;
        notes.push(`servers/web: not behind kamal-proxy, since ${proxiedPrimary} is Kamal's primary_role`);
      }
      if (proxiedPrimary === kamalRole) {
        out.proxy = true;
        notes.push(`servers/${kamalRole}: behind kamal-proxy, as Kamal's primary_role`);
      }
    } else if (isHash(def)) {
      knownKeys(def, ROLE_KEYS, at);
      out.hosts = hostEntries(def.hosts ?? [], `${at}/hosts`, role);
      const cmd = str(def.cmd, `${at}/cmd`);
      if (cmd !== undefined) out.cmd = shellCommand(cmd, `${at}/cmd`);
      const env = mapEnv(def.env, `${at}/env`, false);
      if (env) out.env = env;
      if (def.options !== undefined) out.options = mapOptions(def.options, `${at}/options`);
      if (def.stop_timeout !== undefined) skip(`${at}/stop_timeout`, NO_EQUIVALENT.stop_timeout);
      if (def.asset_path !== undefined)
        skip(`${at}/asset_path`, "berth has one asset path for the app (berth:assetPath)");
      const labels = hash(def.labels, `${at}/labels`);
      if (labels || rootLabels) out.labels = userLabels({ ...rootLabels, ...labels }, `${at}/labels`);
      const logging = mapLogging(def.logging, `${at}/logging`);
      if (logging || rootLogging) out.logging = mergeLogging(rootLogging, logging);
      if (typeof def.proxy === "boolean") out.proxy = def.proxy;
      else if (def.proxy !== undefined) {
        const p = mapProxy(def.proxy, `${at}/proxy`, false);
        if (p) out.proxy = p;
      }
      if (proxiedPrimary !== undefined && kamalRole === "web" && def.proxy === undefined) {
        out.proxy = false;
        notes.push(`servers/web: not behind kamal-proxy, since ${proxiedPrimary} is Kamal's primary_role`);
      }
      if (proxiedPrimary === kamalRole && def.proxy === undefined) {
        out.proxy = true;
        notes.push(`servers/${kamalRole}: behind kamal-proxy, as Kamal's primary_role`);
      }
    } else {
      problem(at, "should be an array or a hash");
      continue;
    }
    if (!out.labels && rootLabels) out.labels = userLabels(rootLabels, "labels");
    if (!out.logging && rootLogging) out.logging = rootLogging;
    if ((out.hosts as string[]).length === 0) {
      if (kamal.allow_empty_roles === true) {
        skip(at, "a role without hosts; berth roles need at least one host");
        continue;
      }
      problem(at, "no hosts");
    }
    servers[role] = out;
  }
  if (roleDefs.length > 0) {
    for (const [address, tags] of tagsOf) {
      skip(
        `servers (tags of ${address})`,
        `host tags (${[...tags].join(", ")}) have no equivalent: berth has no per-host env; accessories placed by tag run on the tagged hosts`,
      );
    }
  }

  // --- env, volumes, assets, hooks, timings
  const env = mapEnv(kamal.env, "env", true);
  const volumes = strings(kamal.volumes, "volumes")?.map((v, i) => mountOptions(v, `volumes/${i}`));
  const assetPath = str(kamal.asset_path, "asset_path");
  const hooksPath = str(kamal.hooks_path, "hooks_path");
  const hooks =
    hooksPath !== undefined
      ? { path: local(hooksPath) }
      : projectPath !== "."
        ? { path: local(".kamal/hooks") }
        : undefined;
  const retainContainers = int(kamal.retain_containers, "retain_containers");
  const readinessDelay = int(kamal.readiness_delay, "readiness_delay");

  // --- proxy
  const proxy = kamal.proxy === undefined ? {} : (mapProxy(kamal.proxy, "proxy", true) ?? {});
  const deployTimeout = int(kamal.deploy_timeout, "deploy_timeout");
  const drainTimeout = int(kamal.drain_timeout, "drain_timeout");
  if (deployTimeout !== undefined) proxy.deployTimeout = deployTimeout;
  if (drainTimeout !== undefined) proxy.drainTimeout = drainTimeout;

  // TLS for several web hosts ends at berth's load balancer (with --provision), not at
  // kamal-proxy; Kamal itself refuses ssl on several hosts without a custom certificate (role.rb).
  const webHosts = (servers.web?.hosts as string[] | undefined) ?? [];
  const webProxyNames = isHash(servers.web?.proxy) ? (servers.web.proxy.hosts as string[] | undefined) : undefined;
  const withLoadBalancer =
    webHosts.length > 1 &&
    !!opts.provision &&
    ((proxy.hosts as string[] | undefined) ?? webProxyNames ?? []).some((h) => !h.startsWith("*."));
  const sslElsewhere = withLoadBalancer
    ? "TLS ends at berth's load balancer"
    : "kamal-proxy cannot obtain one certificate on several hosts (Kamal refuses it too): each host serves plain HTTP; end TLS in front of them";
  if (webHosts.length > 1) {
    if (proxy.ssl === true) {
      proxy.ssl = false;
      notes.push(`proxy/ssl: the web role has several hosts, so ${sslElsewhere}`);
    }
    const webProxy = servers.web?.proxy;
    if (isHash(webProxy) && webProxy.ssl === true) {
      webProxy.ssl = false;
      notes.push(`servers/web/proxy/ssl: several web hosts, so ${sslElsewhere}`);
    }
  }

  // Kamal's kamal-proxy obtains no certificate unless `ssl: true` (configuration/proxy.rb, ssl?).
  if (proxy.ssl === undefined && !(isHash(kamal.proxy) && isHash(kamal.proxy.ssl))) proxy.ssl = false;

  // --- DNS and load balancer: only with --provision. Kamal had neither; the import adds nothing
  // the configuration does not say, and several web hosts stay reachable one by one as in Kamal.
  const publicNames = ((proxy.hosts as string[] | undefined) ?? webProxyNames ?? []).filter((h) => !h.startsWith("*."));
  let dns: Record<string, unknown> | undefined;
  let loadBalancer: Record<string, unknown> | undefined;
  if (webHosts.length > 1 && !withLoadBalancer) {
    loadBalancer = { enabled: false };
    if (servers.web?.proxy !== false)
      notes.push(
        `servers/web: ${webHosts.length} hosts and no load balancer, as in Kamal: each host's kamal-proxy answers on its own address (import with --provision and proxy hosts to have berth create a Hetzner load balancer and DNS)`,
      );
  }
  if (opts.provision) {
    if (publicNames.length > 0) {
      const zoneOf = (h: string) => h.split(".").slice(-2).join(".");
      const counts = new Map<string, number>();
      publicNames.forEach((h) => counts.set(zoneOf(h), (counts.get(zoneOf(h)) ?? 0) + 1));
      const zone = [...counts].sort((a, b) => b[1] - a[1])[0][0];
      const inZone = publicNames.filter((h) => zoneOf(h) === zone);
      dns = { zone, hosts: inZone };
      notes.push(
        `dns: records for ${inZone.join(", ")} in the Hetzner DNS zone ${zone} (it must exist there; set createZone: true to create it)`,
      );
      publicNames
        .filter((h) => zoneOf(h) !== zone)
        .forEach((h) => notes.push(`dns: ${h} is outside ${zone}; point it at the web host or load balancer yourself`));
    }
  }

  // --- builder, ssh, boot
  const builder = mapBuilder(kamal.builder);
  const ssh = mapSsh(kamal.ssh);
  const boot = mapBoot(kamal.boot);

  // --- accessories, aliases
  const accessories = mapAccessories(kamal.accessories);
  const aliases = mapAliases(kamal.aliases);

  if (problems.length > 0) throw new KamalConfigError(problems);

  const config: Record<string, unknown> = {};
  const put = (key: string, value: unknown) => {
    if (value !== undefined && !(isHash(value) && Object.keys(value).length === 0)) config[key] = value;
  };
  put("service", service);
  put("image", image);
  put("version", version);
  put("hosts", hosts);
  put("servers", servers);
  put("registry", registry);
  put("env", env);
  put("volumes", volumes);
  put("assetPath", assetPath);
  put("accessories", accessories);
  put("proxy", proxy);
  put("builder", builder);
  put("boot", boot);
  put("hooks", hooks);
  put("retainContainers", retainContainers);
  put("readinessDelay", readinessDelay);
  put("aliases", aliases);
  put("ssh", ssh);
  put("dns", dns);
  // App containers that receive a secret are named after a fingerprint keyed by a random key.
  const appEnvs = [env, ...Object.values(servers).map((r) => r.env)] as ({ secret?: string[] } | undefined)[];
  const databases = Object.values((accessories ?? {}) as Record<string, { postgres?: { databaseUrl?: unknown } }>);
  if (appEnvs.some((e) => e?.secret?.length) || databases.some((a) => a.postgres && a.postgres.databaseUrl !== false))
    needSecret(FINGERPRINT_KEY, "the fingerprints in app container names (a random key, set once)");
  put("loadBalancer", loadBalancer);
  // A placeholder whose place was dropped (an ERB host address under --provision) is not listed.
  const written = JSON.stringify(config);
  return { config, unmapped, notes, secrets, placeholders: placeholders.filter((p) => written.includes(p.value)) };

  // ---------------------------------------------------------------------------------------

  /** The SSH user's home directory, where Kamal runs its commands. */
  function homeOf(ssh: unknown): string {
    const user = isHash(ssh) && typeof ssh.user === "string" ? ssh.user : "root";
    return user === "root" ? "/root" : `/home/${user}`;
  }

  /**
   * Kamal aliases are kamal command lines; those with a berth command of the same meaning (app
   * exec and logs, details, accessory exec, logs and details) become berth:aliases.
   */
  function mapAliases(value: unknown): Record<string, string> | undefined {
    const all = hash(value, "aliases");
    if (!all) return undefined;
    const out: Record<string, string> = {};
    for (const [name, line] of Object.entries(all)) {
      const at = `aliases/${name}`;
      const words = typeof line === "string" ? commandWords(line) : undefined;
      if (!words) {
        problem(at, "should be a kamal command line");
        continue;
      }
      const berth = aliasCommand(words);
      if (typeof berth !== "string") {
        skip(at, berth.reason);
        continue;
      }
      const alias = lower(name);
      if (BUILT_IN_COMMANDS.includes(alias)) {
        skip(at, `berth has a built-in ${alias} command, which an alias cannot replace (berth ${berth})`);
        continue;
      }
      if (alias !== name) notes.push(`${at}: renamed to ${alias} (berth command names use dashes)`);
      out[alias] = berth;
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }

  function stringValues(obj: Record<string, unknown>): Record<string, string> {
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, String(v)]));
  }

  /** Labels as strings, without the ones berth sets itself (service, role, destination, berth.*). */
  function userLabels(obj: Record<string, unknown>, at: string): Record<string, string> {
    for (const key of Object.keys(obj).filter(reservedLabel))
      skip(`${at}/${key}`, "berth sets this label itself; its commands find containers by it");
    return stringValues(Object.fromEntries(Object.entries(obj).filter(([k]) => !reservedLabel(k))));
  }

  function shellCommand(cmd: string, at: string): string {
    if (commandWords(cmd) !== undefined) return cmd;
    notes.push(`${at}: uses shell syntax, so it runs through sh -c`);
    return `sh -c '${cmd.replace(/'/g, `'"'"'`)}'`;
  }

  /** `name:/path:opts` keeps only ro/rw; SELinux labels (z, Z) have no berth equivalent. */
  function mountOptions(spec: string, at: string): string {
    const parts = spec.split(":");
    if (parts.length < 3) return spec;
    const kept = parts[2].split(",").filter((o) => o === "ro" || o === "rw");
    const dropped = parts[2].split(",").filter((o) => o !== "ro" && o !== "rw");
    if (dropped.length > 0) skip(`${at} (${dropped.join(",")})`, "berth mounts without SELinux relabelling options");
    return [parts[0], parts[1], ...kept.slice(0, 1)].join(":");
  }

  function mapEnv(value: unknown, at: string, root: boolean): Record<string, unknown> | undefined {
    const env = hash(value, at);
    if (!env) return undefined;
    const structured = "clear" in env || "secret" in env || "tags" in env;
    const clearIn = structured ? hash(env.clear, `${at}/clear`) : env;
    const out: Record<string, unknown> = {};
    if (clearIn && Object.keys(clearIn).length > 0) {
      out.clear = Object.fromEntries(
        Object.entries(clearIn).flatMap(([k, v]) => {
          if (v === null || v === undefined) return [[k, ""]];
          if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return [[k, v]];
          problem(`${at}/${structured ? "clear/" : ""}${k}`, "should be a string");
          return [];
        }),
      );
    }
    if (structured) {
      const secret = strings(env.secret, `${at}/secret`);
      if (secret && secret.length > 0) {
        out.secret = secret;
        secret.forEach((entry) => needSecret(entry.split(":")[1] ?? entry, `${at}/secret`));
      }
      if (env.tags !== undefined) {
        if (!root) problem(at, "tags are only allowed in the root env");
        else skip(`${at}/tags`, "berth has no per-host env; set the variables on a role or accessory instead");
      }
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }

  function mapOptions(value: unknown, at: string): Record<string, unknown> | undefined {
    const opts = hash(value, at);
    if (!opts) return undefined;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(opts)) {
      if (k in RUN_OPTIONS) out[k] = v;
      else skip(`${at}/${k}`, `docker run option berth does not pass (supported: ${Object.keys(RUN_OPTIONS).length})`);
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }

  function mapLogging(value: unknown, at: string): Record<string, unknown> | undefined {
    const logging = hash(value, at);
    if (!logging) return undefined;
    knownKeys(logging, LOGGING_KEYS, at);
    const out: Record<string, unknown> = {};
    const driver = str(logging.driver, `${at}/driver`);
    if (driver !== undefined) out.driver = driver;
    const options = hash(logging.options, `${at}/options`);
    if (options) out.options = options;
    return out;
  }

  function mergeLogging(
    base: Record<string, unknown> | undefined,
    over: Record<string, unknown> | undefined,
  ): Record<string, unknown> {
    const options = { ...(base?.options as object), ...(over?.options as object) };
    return {
      ...base,
      ...over,
      ...(Object.keys(options).length > 0 ? { options } : {}),
    };
  }

  function mapProxy(value: unknown, at: string, root: boolean): Record<string, unknown> | undefined {
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

  function mapBuilder(value: unknown): Record<string, unknown> | undefined {
    const b = hash(value, "builder");
    if (!b) return undefined;
    knownKeys(b, BUILDER_KEYS, "builder");
    const out: Record<string, unknown> = {};
    const arch = Array.isArray(b.arch) ? strings(b.arch, "builder/arch") : [str(b.arch, "builder/arch")];
    const arches = (arch ?? []).filter((a): a is string => a !== undefined);
    // An ERB tag import could not evaluate stays a placeholder, which the stack refuses until filled in.
    if (arches.length === 1 && arches[0].startsWith(PLACEHOLDER_PREFIX)) out.arch = arches[0];
    else if (arches.some((a) => a !== "amd64" && a !== "arm64")) problem("builder/arch", "should be amd64 or arm64");
    else if (arches.length > 0) {
      out.arch = arches[0];
      if (arches.length > 1) skip("builder/arch", `berth builds one architecture (${arches[0]} kept)`);
    }
    const context = str(b.context, "builder/context");
    out.context = local(context ?? ".");
    const dockerfile = str(b.dockerfile, "builder/dockerfile");
    if (dockerfile !== undefined) out.dockerfile = dockerfile;
    const target = str(b.target, "builder/target");
    if (target !== undefined) out.target = target;
    const args = hash(b.args, "builder/args");
    if (args) out.args = stringValues(args);
    const reasons: Record<string, string> = {
      remote: "berth builds with the docker engine of the machine running pulumi",
      local: "berth builds with the docker engine of the machine running pulumi",
      pack: "berth builds from a Dockerfile; no buildpacks",
      cache: "berth has no build cache settings yet",
      secrets: "berth passes no build secrets yet; use args for non-secret values",
      ssh: "berth forwards no SSH agent into builds",
      driver: "berth uses the default docker builder",
      provenance: "berth sets no provenance attestations",
      sbom: "berth sets no SBOM attestations",
    };
    for (const k of Object.keys(reasons)) if (b[k] !== undefined) skip(`builder/${k}`, reasons[k]);
    return out;
  }

  function mapSsh(value: unknown): Record<string, unknown> {
    const s = hash(value, "ssh") ?? {};
    knownKeys(s, SSH_KEYS, "ssh");
    const out: Record<string, unknown> = {};
    const user = str(s.user, "ssh/user");
    if (user !== undefined) out.user = user;
    const port = int(s.port, "ssh/port");
    if (port !== undefined) out.port = port;
    out.publicKey =
      opts.publicKey ??
      (() => {
        const value = `${PLACEHOLDER_PREFIX}ssh-public-key`;
        placeholders.push({
          value,
          what: "your SSH public key (contents of ~/.ssh/id_ed25519.pub), or import with --ssh-public-key FILE",
        });
        return `ssh-ed25519 AAAAFillInYourPublicKey ${value}`;
      })();
    const keyData = strings(s.key_data, "ssh/key_data");
    if (keyData && keyData.length > 0) {
      if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(keyData[0])) {
        out.privateKeySecret = keyData[0];
        needSecret(keyData[0], "ssh/key_data");
        if (keyData.length > 1) skip("ssh/key_data", "berth uses one private key; the first is kept");
      } else {
        skip(
          "ssh/key_data",
          "a private key written in the config is not copied; set it as a secret and name it in berth:ssh.privateKeySecret",
        );
      }
    }
    const reasons: Record<string, string> = {
      proxy: "berth connects to hosts directly; no SSH jump host yet",
      proxy_command: "berth connects to hosts directly; no SSH proxy command yet",
      log_level: "berth has no SSH log level setting",
      keys_only: "berth uses the ssh-agent or berth:ssh.privateKeySecret",
      keys: "berth uses the ssh-agent (ssh-add the key) or berth:ssh.privateKeySecret",
      config: "berth does not read ssh_config files",
      forward_agent: "berth does not forward the SSH agent",
    };
    for (const k of Object.keys(reasons)) if (s[k] !== undefined) skip(`ssh/${k}`, reasons[k]);
    return out;
  }

  function mapBoot(value: unknown): Record<string, unknown> | undefined {
    const b = hash(value, "boot");
    if (!b) return undefined;
    knownKeys(b, BOOT_KEYS, "boot");
    const out: Record<string, unknown> = {};
    if (typeof b.limit === "number") out.limit = b.limit;
    else if (b.limit !== undefined) out.limit = str(b.limit, "boot/limit");
    const wait = int(b.wait, "boot/wait");
    if (wait !== undefined) out.wait = wait;
    if (b.parallel_roles !== undefined) skip("boot/parallel_roles", "berth boots roles one after another");
    return out;
  }

  function mapAccessories(value: unknown): Record<string, unknown> | undefined {
    const all = hash(value, "accessories");
    if (!all) return undefined;
    const out: Record<string, unknown> = {};
    const appHosts = new Set(Object.values(servers).flatMap((r) => r.hosts as string[]));
    for (const [kamalName, def] of Object.entries(all)) {
      const at = `accessories/${kamalName}`;
      const acc = hash(def, at);
      if (!acc) continue;
      knownKeys(acc, ACCESSORY_KEYS, at);
      const name =
        lower(kamalName)
          .replace(/^[^a-z]+/, "")
          .slice(0, 31) || "accessory";
      if (name !== kamalName) {
        notes.push(`${at}: renamed to ${name}; its container is now ${service}-${name}`);
      }
      const a: Record<string, unknown> = {};

      // Placement: host, hosts, role(s) and tag(s) in Kamal; one of host, hosts, roles in berth.
      const host = str(acc.host, `${at}/host`);
      const hostList = strings(acc.hosts, `${at}/hosts`);
      const roles = [
        ...(acc.role !== undefined ? [str(acc.role, `${at}/role`)] : []),
        ...(strings(acc.roles, `${at}/roles`) ?? []),
      ].filter((r): r is string => r !== undefined);
      const tags = [
        ...(acc.tag !== undefined ? [str(acc.tag, `${at}/tag`)] : []),
        ...(strings(acc.tags, `${at}/tags`) ?? []),
      ].filter((t): t is string => t !== undefined);
      roles.forEach((r, i) => {
        if (!roleDefs.some(([k]) => k === r)) problem(`${at}/roles/${i}`, `unknown role ${r}`);
      });
      const tagged = [...tagsOf].filter(([, set]) => tags.some((t) => set.has(t))).map(([address]) => address);
      tags.forEach((t) => {
        if (![...tagsOf.values()].some((set) => set.has(t))) problem(`${at}/tags`, `no host carries the tag ${t}`);
      });
      const direct = [...(host !== undefined ? [host] : []), ...(hostList ?? []), ...tagged].map((h) =>
        hostFor(h, name),
      );
      if (direct.length === 0 && roles.length === 0) {
        problem(at, "missing host, hosts, role, roles, tag or tags");
        continue;
      }
      if (roles.length > 0 && direct.length === 0) a.roles = roles.map(roleName);
      else {
        const all = [...new Set([...direct, ...roles.flatMap((r) => (servers[roleName(r)]?.hosts as string[]) ?? [])])];
        if (all.length === 1) a.host = all[0];
        else a.hosts = all;
      }
      const placed: string[] =
        (a.hosts as string[]) ??
        (a.host ? [a.host as string] : roles.flatMap((r) => servers[roleName(r)]?.hosts as string[]));

      const img = str(acc.image, `${at}/image`);
      if (img === undefined) problem(`${at}/image`, "required");
      else if (pinnedImage(img)) a.image = img;
      else {
        const repo = img.replace(/:latest$/, "");
        a.image = `${repo}:${placeholder(`${name}-image-tag`, `a pinned tag for ${repo} (berth refuses latest or no tag)`)}`;
      }
      const cmd = str(acc.cmd, `${at}/cmd`);
      if (cmd !== undefined) a.cmd = shellCommand(cmd, `${at}/cmd`);

      const port = acc.port === undefined ? undefined : str(acc.port, `${at}/port`);
      if (port !== undefined) a.port = mapPort(port, at, placed, appHosts);

      const env = mapEnv(acc.env, `${at}/env`, false);
      const labels = hash(acc.labels, `${at}/labels`);
      if (labels) a.labels = userLabels(labels, `${at}/labels`);
      if (acc.options !== undefined) {
        const o = mapOptions(acc.options, `${at}/options`);
        if (o) a.options = o;
      }
      const files = mapPaths(acc.files, `${at}/files`, true);
      if (files?.length) a.files = files;
      // Kamal keeps a relative directory in `$PWD/<service>-<accessory>/`, $PWD being the SSH
      // user's home (configuration/accessory.rb, service_data_directory). It stays there, so a
      // migrated database finds its data.
      const kamalDir = `${homeOf(kamal.ssh)}/${str(acc.service, `${at}/service`) ?? `${service}-${kamalName}`}`;
      const dirs = (mapPaths(acc.directories, `${at}/directories`, false) as string[] | undefined)?.map((d) =>
        d.startsWith("/") ? d : `${kamalDir}/${d}`,
      );
      if (dirs?.length) a.directories = dirs;
      const vols = strings(acc.volumes, `${at}/volumes`)?.map((v, i) => mountOptions(v, `${at}/volumes/${i}`));
      if (vols?.length) a.volumes = vols;
      if (acc.service !== undefined) skip(`${at}/service`, `berth names the container ${service}-${name}`);
      if (acc.registry !== undefined) skip(`${at}/registry`, "berth pulls accessory images anonymously");
      if (acc.network !== undefined) skip(`${at}/network`, "accessories join berth's docker network");
      if (acc.proxy !== undefined) skip(`${at}/proxy`, "berth puts only the app's roles behind kamal-proxy");

      // A Postgres image with its password in a secret becomes berth's postgres kind (health
      // check, backups); the app keeps its own database settings, so no DATABASE_URL is added.
      const clear = (env?.clear ?? {}) as Record<string, unknown>;
      const secretEntries = (env?.secret ?? []) as string[];
      const pwEntry = secretEntries.find((e) => e.split(":")[0] === "POSTGRES_PASSWORD");
      const postgresImage = img !== undefined && /^(.*\/)?(postgres|postgis)(:|$)/.test(img);
      if (postgresImage && pwEntry) {
        const user = String(clear.POSTGRES_USER ?? "postgres");
        const database = String(clear.POSTGRES_DB ?? user);
        a.postgres = {
          database,
          user,
          passwordSecret: pwEntry.split(":")[1] ?? pwEntry,
          databaseUrl: false,
        };
        delete clear.POSTGRES_USER;
        delete clear.POSTGRES_DB;
        const rest = secretEntries.filter((e) => e !== pwEntry);
        const left: Record<string, unknown> = {};
        if (Object.keys(clear).length > 0) left.clear = clear;
        if (rest.length > 0) left.secret = rest;
        if (Object.keys(left).length > 0) a.env = left;
        notes.push(`${at}: a Postgres image: berth's postgres kind (pg_isready health check, backups possible)`);
      } else if (env) a.env = env;
      out[name] = a;
    }
    return out;
  }

  /**
   * Kamal publishes `5432` and `5432:5432` on every interface of the host. berth binds private
   * addresses unless told otherwise: such ports move to the private network (Hetzner servers,
   * or existing machines with a private address) or to loopback.
   */
  function mapPort(port: string, at: string, placed: string[], appHosts: Set<string>): string | number {
    const parts = port.split(":");
    const [bind, hostPort, containerPort] =
      parts.length === 3 ? parts : parts.length === 2 ? [undefined, ...parts] : [undefined, parts[0], parts[0]];
    if (bind !== undefined && privateAddress(bind)) return port;
    const existing = placed.filter((h) => hosts[h]?.address !== undefined);
    const unreachable = existing.filter((h) => {
      const address = hosts[h].address as string;
      if (/^[0-9.]+$/.test(address) && privateAddress(address)) {
        hosts[h].privateAddress = address;
        return false;
      }
      return true;
    });
    if (unreachable.length === 0) {
      notes.push(
        `${at}/port: ${port} was published on every interface; berth binds it to the private network only (${hostPort}:${containerPort})`,
      );
      return parts.length === 1 ? Number(port) : `${hostPort}:${containerPort}`;
    }
    const onlyLocal = [...appHosts].every((h) => placed.includes(h));
    notes.push(
      `${at}/port: ${port} was published on every interface; berth binds it to loopback (127.0.0.1:${hostPort}:${containerPort})` +
        (onlyLocal
          ? ""
          : ` and the app on other hosts cannot reach it: set berth:hosts.${unreachable[0]}.privateAddress and port "${hostPort}:${containerPort}"`),
    );
    return `127.0.0.1:${hostPort}:${containerPort}`;
  }

  /** Kamal's files and directories, as strings or {local, remote, mode, owner, options}. */
  function mapPaths(value: unknown, at: string, files: boolean): unknown[] | undefined {
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) {
      problem(at, "should be an array");
      return undefined;
    }
    return value.flatMap((entry, i) => {
      const here = `${at}/${i}`;
      let from: string, to: string, mode: string | undefined;
      if (typeof entry === "string") {
        const parts = entry.split(":");
        if (parts.length < 2) {
          problem(here, "should be local:remote");
          return [];
        }
        [from, to] = parts;
        if (parts[2] !== undefined) {
          const kept = parts[2].split(",").filter((o) => o === "ro" || o === "rw");
          if (files || kept.length < parts[2].split(",").length) {
            skip(`${here} (${parts[2]})`, "berth mounts without extra mount options");
          }
          if (!files && kept.length) to = `${to}:${kept[0]}`;
        }
      } else if (isHash(entry)) {
        knownKeys(entry, ["local", "remote", "mode", "owner", "options"], here);
        const l = str(entry.local, `${here}/local`);
        const r = str(entry.remote, `${here}/remote`);
        if (l === undefined || r === undefined) {
          problem(here, "needs local and remote");
          return [];
        }
        [from, to] = [l, r];
        mode = str(entry.mode, `${here}/mode`);
        if (!files && mode !== undefined)
          skip(`${here}/mode`, "berth creates accessory directories with default modes");
        if (entry.owner !== undefined) skip(`${here}/owner`, "berth does not change owners of accessory files");
        if (entry.options !== undefined) skip(`${here}/options`, "berth mounts without extra mount options");
      } else {
        problem(here, "should be a string or a hash");
        return [];
      }
      if (!files) return [`${from}:${to}`];
      if (from.endsWith(".erb")) {
        notes.push(`${here}: Kamal renders ${from} with ERB; berth uploads it as written, so render it first`);
      }
      return [mode !== undefined ? { source: local(from), target: to, mode } : `${local(from)}:${to}`];
    });
  }
}
