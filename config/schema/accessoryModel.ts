// Accessories as components receive them, and the names an app's volumes and accessories get on
// a host.
import { AccessoryInput, AccessoryPort, LITESTREAM_IMAGE, parsePort, POSTGRES_PASSWORD_FILE } from "../accessory";
import { commandWords, ContainerOptions, containerOptions } from "../app";
import type { CheckedStack } from "./input";
import { accessoryHosts, mergeEnv, ResolvedEnv } from "./resolve";

/** A file berth writes on the host and mounts into an accessory. */
export interface AccessoryFile {
  target: string;
  mode: string;
  content: string;
}

/** An accessory as components receive it: placement resolved, files read, kind settings applied. */
export interface Accessory {
  name: string;
  /** Container name and network alias: `<service>-<name>`, as Kamal names accessories. */
  container: string;
  image: string;
  hosts: string[];
  cmd?: string[];
  port?: AccessoryPort;
  env: ResolvedEnv;
  files: AccessoryFile[];
  /** `name:/path` (in the accessory's directory) or `/host/path:/path`. */
  directories: string[];
  volumes: string[];
  /** Hetzner volume of the (single) host that holds the accessory's directories. */
  volume?: string;
  options: ContainerOptions;
  labels: Record<string, string>;
  postgres?: AccessoryInput["postgres"] & {};
  litestream?: AccessoryInput["litestream"] & {};
  backup?: AccessoryInput["backup"] & {};
}

/**
 * Names of what an app puts on a host. A stack attached to a server stack shares the host with
 * other apps, so its docker volumes and accessory containers carry its service and stack: two apps
 * both writing `storage:/rails/storage` get two volumes. A stack on its own hosts keeps Kamal's names.
 */
export class Names {
  constructor(
    private readonly service: string,
    private readonly stack: string,
    private readonly attached: boolean,
  ) {}

  volume(name: string): string {
    return this.attached ? `${this.service}-${this.stack}-${name}` : name;
  }

  /** A mount spec with its docker volume renamed (host paths stay). */
  mount(spec: string): string {
    if (spec.startsWith("/")) return spec;
    const i = spec.indexOf(":");
    return `${this.volume(spec.slice(0, i))}${spec.slice(i)}`;
  }

  accessory(name: string): string {
    return this.attached ? `${this.service}-${this.stack}-${name}` : `${this.service}-${name}`;
  }
}

/** Kamal's `local:remote` file entries and berth's object form, read into their content. */
function accessoryFiles(acc: AccessoryInput, readFile: (path: string) => string): AccessoryFile[] {
  return (acc.files ?? []).map((f) => {
    if (typeof f === "string") {
      const i = f.indexOf(":");
      return { target: f.slice(i + 1), mode: "0644", content: readFile(f.slice(0, i)) };
    }
    return { target: f.target, mode: f.mode, content: f.content ?? readFile(f.source!) };
  });
}

/** Local files accessories upload, with the config path of each, for checking before anything runs. */
export function accessoryFileSources(cfg: CheckedStack): { path: string; source: string }[] {
  return Object.entries(cfg.accessories ?? {}).flatMap(([name, acc]) =>
    (acc.files ?? []).flatMap((f, i) => {
      const source = typeof f === "string" ? f.slice(0, f.indexOf(":")) : f.source;
      return source === undefined ? [] : [{ path: `accessories.${name}.files[${i}]`, source }];
    }),
  );
}

export function normalizeAccessory(
  cfg: CheckedStack,
  name: string,
  acc: AccessoryInput,
  readFile: (path: string) => string,
  names: Names,
): Accessory {
  const env = mergeEnv(acc.env);
  const directories = [...(acc.directories ?? [])];
  const pg = acc.postgres;
  if (pg) {
    env.clear.POSTGRES_DB = pg.database;
    env.clear.POSTGRES_USER = pg.user;
    // The password comes from a file berth writes, so rotating it changes no container input: a
    // running database gets it through psql instead (components/accessory.ts).
    env.clear.POSTGRES_PASSWORD_FILE = POSTGRES_PASSWORD_FILE;
    const dataDir = "/var/lib/postgresql/data";
    const mounted = [...directories, ...(acc.volumes ?? [])].some((m) => m.split(":")[1] === dataDir);
    if (!mounted) directories.push(`data:${dataDir}`);
  }
  const ls = acc.litestream ? { ...acc.litestream, volume: names.volume(acc.litestream.volume) } : undefined;
  if (ls) {
    env.secret.LITESTREAM_ACCESS_KEY_ID = ls.replica.accessKeyIdSecret;
    env.secret.LITESTREAM_SECRET_ACCESS_KEY = ls.replica.secretAccessKeySecret;
  }
  const cmd = acc.cmd ?? (ls ? "replicate -config /etc/litestream.yml" : undefined);
  return {
    name,
    container: names.accessory(name),
    image: acc.image ?? LITESTREAM_IMAGE,
    hosts: accessoryHosts(cfg, acc),
    cmd: cmd ? commandWords(cmd) : undefined,
    port: acc.port === undefined ? undefined : parsePort(acc.port),
    env,
    files: accessoryFiles(acc, readFile),
    directories,
    volumes: [...(acc.volumes ?? []).map((v) => names.mount(v)), ...(ls ? [`${ls.volume}:/data`] : [])],
    volume: acc.volume,
    options: containerOptions(acc.options ?? {}),
    labels: acc.labels ?? {},
    postgres: pg,
    litestream: ls,
    backup: acc.backup,
  };
}
