// What a resource does on a host or in the cloud, read from the inputs Pulumi holds for it: the one
// place that reads berth's scripts. kamal-proxy calls, volume mounts and database password changes
// are found by what they run, not by resource name, so a script may be reshaped (a condition around
// the deploy, an extra re-assertion step, a fingerprint in a container name) without changing this.
// Something it cannot read raises an error naming the resource instead of being guessed.
import { parse as parseShell } from "shell-quote";
import { parse as parseYaml } from "yaml";
import { Properties } from "../plan/properties";

/** Whether `path` is `dir` or lies below it. */
export const under = (path: string, dir: string) => path === dir || path.startsWith(`${dir.replace(/\/$/, "")}/`);

export type ProxyAction =
  | { kind: "deploy"; service: string; target: string }
  | { kind: "remove"; service: string }
  /** kamal-proxy v0.9.2 `rollout deploy`, `rollout set`, `rollout stop` (internal/cmd/rollout_*.go). */
  | { kind: "rollout-deploy"; service: string; target: string }
  | { kind: "rollout-set"; service: string }
  | { kind: "rollout-stop"; service: string };

/** A script's words, line by line; shell variables stay visible as `$NAME`. */
function shellWords(script: string): string[][] {
  const out: string[][] = [];
  for (const raw of script.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const words = parseShell(line, (name) => `$${name}`).filter((w): w is string => typeof w === "string");
    out.push(words);
  }
  return out;
}

const flag = (words: string[], i: number, name: string): string | undefined => {
  for (let j = i; j < words.length; j++) {
    const w = words[j];
    if (w === `--${name}`) return words[j + 1];
    if (w.startsWith(`--${name}=`)) return w.slice(name.length + 3);
  }
  return undefined;
};

/**
 * The kamal-proxy calls a script makes, in order: `kamal-proxy deploy <service> --target=<c>:<port>`,
 * `kamal-proxy remove <service>` and the `rollout` verbs. `stop`, `resume` and `list` change no route.
 */
export function proxyActions(script: string, where: string): ProxyAction[] {
  const actions: ProxyAction[] = [];
  for (const words of shellWords(script)) {
    for (let i = 0; i < words.length - 1; i++) {
      if (!/(^|\/)kamal-proxy$/.test(words[i])) continue;
      const verb = words[i + 1];
      const service = words[i + 2];
      if (verb === "remove" && service) actions.push({ kind: "remove", service });
      if (verb === "rollout") {
        const sub = words[i + 2];
        const name = words[i + 3];
        const target = flag(words, i + 4, "target");
        if (!name || name.includes("$") || (sub === "deploy" && (!target || target.includes("$"))))
          throw new Error(`${where}: cannot tell which service this kamal-proxy rollout changes: ${words.join(" ")}`);
        if (sub === "deploy")
          actions.push({ kind: "rollout-deploy", service: name, target: target!.replace(/:\d+$/, "") });
        if (sub === "set") actions.push({ kind: "rollout-set", service: name });
        if (sub === "stop") actions.push({ kind: "rollout-stop", service: name });
        continue;
      }
      if (verb !== "deploy") continue;
      const target = flag(words, i + 3, "target");
      if (!service || !target || `${service}${target}`.includes("$"))
        throw new Error(
          `${where}: cannot tell which service and target this kamal-proxy deploy switches: ${words.join(" ")}`,
        );
      actions.push({ kind: "deploy", service, target: target.replace(/:\d+$/, "") });
    }
  }
  return actions;
}

/** Mount points a script mounts a Hetzner volume at (berth's mount script sets `mnt=<path>`). */
export function mountPaths(script: string, where: string): string[] {
  if (!/HC_Volume_/.test(script) || !/\bmount\b/.test(script)) return [];
  const paths = [...script.matchAll(/^\s*mnt=['"]?([^'"\s]+)['"]?\s*$/gm)].map((m) => m[1]);
  if (!paths.length) throw new Error(`${where}: mounts a Hetzner volume, but at which path cannot be read`);
  return paths;
}

/**
 * A step that sets a Postgres role's password in the running database (`ALTER ROLE ... PASSWORD`,
 * or psql's `\password`); which container it runs in. The new password is the first line of its stdin.
 */
export function passwordChange(script: string): { container?: string } | undefined {
  if (!/ALTER\s+(ROLE|USER)\b[\s\S]*PASSWORD/i.test(script) && !/\\password\b/.test(script)) return undefined;
  for (const words of shellWords(script)) {
    const i = words.findIndex((w, j) => w === "exec" && words[j - 1] === "docker");
    if (i < 0) continue;
    const name = words.slice(i + 1).find((w) => !w.startsWith("-"));
    if (name && !name.includes("$")) return { container: name };
  }
  return {};
}

/** Provider inputs are strings as the engine holds them: JSON for lists and objects. */
export function providerValue(value: unknown): Properties[string] {
  if (typeof value === "string" && /^[[{]/.test(value)) {
    try {
      return JSON.parse(value);
    } catch {
      return value;
    }
  }
  return value;
}

export type HostKeyPolicy = "accept-new" | "strict" | "off";

/** The docker provider's target (`ssh://user@address:port`) and how its ssh checks host keys. */
export function dockerHost(inputs: Properties): { address: string; policy: HostKeyPolicy } | undefined {
  const host = String(providerValue(inputs.host) ?? "");
  const m = /^ssh:\/\/(?:[^@/]+@)?(\[[^\]]+\]|[^:/]+)/.exec(host);
  if (!m) return undefined;
  const opts: string[] = (providerValue(inputs.sshOpts) ?? []).map(String);
  const setting = opts
    .join(" ")
    .match(/StrictHostKeyChecking[= ]\s*(\S+)/i)?.[1]
    ?.toLowerCase();
  const policy: HostKeyPolicy =
    setting === "no" || setting === "off" ? "off" : setting === "accept-new" ? "accept-new" : "strict";
  return { address: m[1].replace(/^\[|\]$/g, ""), policy };
}

/** `type base64` of an OpenSSH public key: what Hetzner's fingerprint and ssh's known_hosts compare. */
export function keyMaterial(publicKey: string): string {
  return publicKey.trim().split(/\s+/).slice(0, 2).join(" ");
}

/** Host public keys a server's cloud-init installs (`ssh_keys: {<type>_public: ...}`), if any. */
export function pinnedHostKeys(userData: unknown): string[] {
  if (typeof userData !== "string" || !userData.startsWith("#cloud-config")) return [];
  let doc: Properties | undefined;
  try {
    doc = parseYaml(userData);
  } catch {
    return [];
  }
  const keys = doc?.ssh_keys;
  if (!keys || typeof keys !== "object") return [];
  return Object.entries(keys)
    .filter(([k, v]) => k.endsWith("_public") && typeof v === "string")
    .map(([, v]) => keyMaterial(v as string));
}

export interface ContainerSpec {
  name: string;
  env: Record<string, string>;
  binds: { hostPath?: string; volumeName?: string; containerPath: string }[];
  ports: { external?: number; internal?: number; ip?: string }[];
}

/** A docker Container's name, environment, mounts and published ports. */
export function containerSpec(inputs: Properties): ContainerSpec {
  const env: Record<string, string> = {};
  for (const e of inputs.envs ?? []) {
    const text = String(e);
    const at = text.indexOf("=");
    if (at > 0) env[text.slice(0, at)] = text.slice(at + 1);
  }
  const binds = [
    ...(inputs.volumes ?? []),
    ...(inputs.mounts ?? []).map((m: Properties) => ({
      hostPath: m.type === "bind" ? m.source : undefined,
      volumeName: m.type === "volume" ? m.source : undefined,
      containerPath: m.target,
    })),
  ].map((v: Properties) => ({
    hostPath: v.hostPath,
    volumeName: v.volumeName,
    containerPath: String(v.containerPath),
  }));
  return { name: String(inputs.name ?? ""), env, binds, ports: inputs.ports ?? [] };
}

/**
 * Where a Postgres container keeps its data, and where its initial password comes from: its
 * POSTGRES_PASSWORD, or the file POSTGRES_PASSWORD_FILE names (a bind-mounted host file).
 */
export function postgresData(
  spec: ContainerSpec,
): { bind?: ContainerSpec["binds"][number]; password?: string; passwordFile?: string; user: string } | undefined {
  const file = spec.env.POSTGRES_PASSWORD_FILE;
  if (spec.env.POSTGRES_PASSWORD === undefined && file === undefined) return undefined;
  const dataDir = spec.env.PGDATA ?? "/var/lib/postgresql/data";
  const bind = spec.binds
    .filter((b) => under(dataDir, b.containerPath))
    .sort((a, b) => b.containerPath.length - a.containerPath.length)[0];
  const passwordFile = file === undefined ? undefined : spec.binds.find((b) => b.containerPath === file)?.hostPath;
  return { bind, password: spec.env.POSTGRES_PASSWORD, passwordFile, user: spec.env.POSTGRES_USER ?? "postgres" };
}

/** A file a step writes from its stdin (berth's write-file script: `target=<path>`, then `cat >`). */
export function fileWrite(script: string): string | undefined {
  if (!/\bcat\s*>/.test(script)) return undefined;
  const m = /^\s*target=(['"]?)([^'"\s]+)\1\s*$/m.exec(script);
  return m?.[2];
}

/** The database an app container connects to, from its DATABASE_URL. */
export function databaseTarget(
  spec: ContainerSpec,
): { host: string; port: number; user: string; password: string } | undefined {
  const url = spec.env.DATABASE_URL;
  if (!url) return undefined;
  try {
    const u = new URL(url);
    if (!/^postgres(ql)?:$/.test(u.protocol)) return undefined;
    return {
      host: u.hostname.replace(/^\[|\]$/g, ""),
      port: Number(u.port || 5432),
      user: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password),
    };
  } catch {
    return undefined;
  }
}
