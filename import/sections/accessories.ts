// Kamal's accessories: where each runs, its image, port, env, files, directories and volumes, and
// a Postgres one as berth's postgres kind.
import { pinnedImage, privateAddress } from "../../config/accessory";
import { ImportContext, lower } from "../context";
import { isHash } from "../kamal";
import { mapEnv, mapOptions, mountOptions, shellCommand, userLabels } from "./container";
import { Roles } from "./servers";
import { homeOf } from "./ssh";

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

export function mapAccessories(
  ctx: ImportContext,
  kamal: Record<string, unknown>,
  service: string | undefined,
  app: Roles,
): Record<string, unknown> | undefined {
  const { hash, knownKeys, notes, str, strings, problem, placeholder, skip } = ctx;
  const { hosts, servers, roleDefs, roleName, tagsOf, hostFor } = app;
  const all = hash(kamal.accessories, "accessories");
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
    const direct = [...(host !== undefined ? [host] : []), ...(hostList ?? []), ...tagged].map((h) => hostFor(h, name));
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
    if (cmd !== undefined) a.cmd = shellCommand(ctx, cmd, `${at}/cmd`);

    const port = acc.port === undefined ? undefined : str(acc.port, `${at}/port`);
    if (port !== undefined) a.port = mapPort(ctx, hosts, port, at, placed, appHosts);

    const env = mapEnv(ctx, acc.env, `${at}/env`, false);
    const labels = hash(acc.labels, `${at}/labels`);
    if (labels) a.labels = userLabels(ctx, labels, `${at}/labels`);
    if (acc.options !== undefined) {
      const o = mapOptions(ctx, acc.options, `${at}/options`);
      if (o) a.options = o;
    }
    const files = mapPaths(ctx, acc.files, `${at}/files`, true);
    if (files?.length) a.files = files;
    // Kamal keeps a relative directory in `$PWD/<service>-<accessory>/`, $PWD being the SSH
    // user's home (configuration/accessory.rb, service_data_directory). It stays there, so a
    // migrated database finds its data.
    const kamalDir = `${homeOf(kamal.ssh)}/${str(acc.service, `${at}/service`) ?? `${service}-${kamalName}`}`;
    const dirs = (mapPaths(ctx, acc.directories, `${at}/directories`, false) as string[] | undefined)?.map((d) =>
      d.startsWith("/") ? d : `${kamalDir}/${d}`,
    );
    if (dirs?.length) a.directories = dirs;
    const vols = strings(acc.volumes, `${at}/volumes`)?.map((v, i) => mountOptions(ctx, v, `${at}/volumes/${i}`));
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
function mapPort(
  ctx: ImportContext,
  hosts: Record<string, Record<string, unknown>>,
  port: string,
  at: string,
  placed: string[],
  appHosts: Set<string>,
): string | number {
  const { notes } = ctx;
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
function mapPaths(ctx: ImportContext, value: unknown, at: string, files: boolean): unknown[] | undefined {
  const { problem, skip, knownKeys, str, notes, local } = ctx;
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
      if (!files && mode !== undefined) skip(`${here}/mode`, "berth creates accessory directories with default modes");
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
