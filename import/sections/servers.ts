// Kamal's servers: its roles, the primary role, and the hosts they list with their tags.
import { ImportContext, lower, TAG } from "../context";
import { isHash } from "../kamal";
import { mapEnv, mapLogging, mapOptions, mergeLogging, NO_STOP_TIMEOUT, shellCommand, userLabels } from "./container";
import { mapProxy } from "./proxy";

const ROLE_KEYS = ["hosts", "cmd", "stop_timeout", "options", "logging", "proxy", "labels", "env", "asset_path"];

/** Key data of type ssh-ed25519 that is no machine's key (it spells "FillInTheHostKeyOfThisMachine"). */
const HOST_KEY_STAND_IN = Buffer.concat(
  [Buffer.from("ssh-ed25519"), Buffer.from("FillInTheHostKeyOfThisMachine!!!")].map((b) =>
    Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]),
  ),
).toString("base64");

export interface Roles {
  /** berth:hosts, by host name. */
  hosts: Record<string, Record<string, unknown>>;
  /** berth:servers, by role. */
  servers: Record<string, Record<string, unknown>>;
  /** Kamal's roles as it wrote them. */
  roleDefs: [string, unknown][];
  /** berth's name of a Kamal role. */
  roleName: (r: string) => string;
  /** Kamal's host tags, by address. */
  tagsOf: Map<string, Set<string>>;
  /** Kamal's primary role when berth:primaryRole names it (not web), as Kamal wrote it. */
  primaryRole: string | undefined;
  /** The berth host of an address, named after `prefix` when it is new. */
  hostFor: (address: string, prefix: string) => string;
}

export function mapServers(ctx: ImportContext, kamal: Record<string, unknown>): Roles {
  const { opts, placeholders, placeholder, problem, notes, knownKeys, str, hash, skip } = ctx;
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
  const rootLogging = mapLogging(ctx, kamal.logging, "logging");
  const serversIn = kamal.servers;
  const roleDefs: [string, unknown][] = Array.isArray(serversIn)
    ? [["web", serversIn]]
    : isHash(serversIn)
      ? Object.entries(serversIn)
      : [];
  if (serversIn === undefined) problem("servers", "required");
  else if (!Array.isArray(serversIn) && !isHash(serversIn)) problem("servers", "should be an array or a hash");

  // Kamal's primary_role becomes berth:primaryRole; without one Kamal's is web, and a config
  // without a web role names its primary role (Kamal refuses it otherwise).
  const primary = str(kamal.primary_role, "primary_role");
  const roleNames = roleDefs.map(([r]) => r);
  const primaryRole =
    primary !== undefined && roleNames.includes(primary) && primary !== "web"
      ? primary
      : roleNames.length > 0 && !roleNames.includes("web")
        ? roleNames[0]
        : undefined;
  if (primaryRole !== undefined && primary === undefined)
    notes.push(`servers/${primaryRole}: the primary role (berth:primaryRole), as there is no web role`);
  // Kamal proxies its primary role unless told not to, and other roles only when told to.
  const proxiedPrimary = primaryRole !== undefined && roleNames.includes("web") ? primaryRole : undefined;
  const roleName = (r: string) =>
    r
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, "-")
      .replace(/^[^a-z]+/, "");

  const servers: Record<string, Record<string, unknown>> = {};
  for (const [kamalRole, def] of roleDefs) {
    const at = `servers/${kamalRole}`;
    const role = roleName(kamalRole);
    const out: Record<string, unknown> = {};
    if (role !== kamalRole) notes.push(`${at}: role renamed to ${role}`);
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
      if (cmd !== undefined) out.cmd = shellCommand(ctx, cmd, `${at}/cmd`);
      const env = mapEnv(ctx, def.env, `${at}/env`, false);
      if (env) out.env = env;
      if (def.options !== undefined) out.options = mapOptions(ctx, def.options, `${at}/options`);
      if (def.stop_timeout !== undefined) skip(`${at}/stop_timeout`, NO_STOP_TIMEOUT);
      if (def.asset_path !== undefined)
        skip(`${at}/asset_path`, "berth has one asset path for the app (berth:assetPath)");
      const labels = hash(def.labels, `${at}/labels`);
      if (labels || rootLabels) out.labels = userLabels(ctx, { ...rootLabels, ...labels }, `${at}/labels`);
      const logging = mapLogging(ctx, def.logging, `${at}/logging`);
      if (logging || rootLogging) out.logging = mergeLogging(rootLogging, logging);
      if (typeof def.proxy === "boolean") out.proxy = def.proxy;
      else if (def.proxy !== undefined) {
        const p = mapProxy(ctx, def.proxy, `${at}/proxy`, false);
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
    if (!out.labels && rootLabels) out.labels = userLabels(ctx, rootLabels, "labels");
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
  // Kamal's host tags become the host's tags: berth:env.tags gives tagged hosts their variables.
  for (const [address, tags] of tagsOf) {
    const host = hosts[nameOf.get(address) ?? ""];
    const valid = [...tags].filter((t) => TAG.test(t));
    const invalid = [...tags].filter((t) => !TAG.test(t));
    if (host && valid.length > 0) host.tags = valid;
    if (invalid.length > 0)
      skip(
        `servers (tags of ${address})`,
        `tags ${invalid.join(", ")} are not lowercase names berth accepts (letters, digits, _ and -)`,
      );
  }
  return { hosts, servers, roleDefs, roleName, tagsOf, hostFor, primaryRole };
}
