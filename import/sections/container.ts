// What an app role's containers and an accessory's container share in Kamal: env, cmd, labels,
// docker options, volumes and logging.
import { commandWords, reservedLabel, RUN_OPTIONS } from "../../config/app";
import { ImportContext, singleQuoted, TAG } from "../context";

const LOGGING_KEYS = ["driver", "options"];

/** Kamal's `stop_timeout`, at the root or on a role. */
export const NO_STOP_TIMEOUT = "berth stops containers with docker's default timeout";

export function stringValues(obj: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, String(v)]));
}

/** Labels as strings, without the ones berth sets itself (service, role, destination, berth.*). */
export function userLabels(ctx: ImportContext, obj: Record<string, unknown>, at: string): Record<string, string> {
  for (const key of Object.keys(obj).filter(reservedLabel))
    ctx.skip(`${at}/${key}`, "berth sets this label itself; its commands find containers by it");
  return stringValues(Object.fromEntries(Object.entries(obj).filter(([k]) => !reservedLabel(k))));
}

export function shellCommand(ctx: ImportContext, cmd: string, at: string): string {
  if (commandWords(cmd) !== undefined) return cmd;
  ctx.notes.push(`${at}: uses shell syntax, so it runs through sh -c`);
  return `sh -c ${singleQuoted(cmd)}`;
}

/** `name:/path:opts` keeps only ro/rw; SELinux labels (z, Z) have no berth equivalent. */
export function mountOptions(ctx: ImportContext, spec: string, at: string): string {
  const parts = spec.split(":");
  if (parts.length < 3) return spec;
  const kept = parts[2].split(",").filter((o) => o === "ro" || o === "rw");
  const dropped = parts[2].split(",").filter((o) => o !== "ro" && o !== "rw");
  if (dropped.length > 0) ctx.skip(`${at} (${dropped.join(",")})`, "berth mounts without SELinux relabelling options");
  return [parts[0], parts[1], ...kept.slice(0, 1)].join(":");
}

export function mapEnv(
  ctx: ImportContext,
  value: unknown,
  at: string,
  root: boolean,
): Record<string, unknown> | undefined {
  const { hash, problem, strings, needSecret, skip } = ctx;
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
      else {
        const tags = hash(env.tags, `${at}/tags`) ?? {};
        const mapped: Record<string, unknown> = {};
        for (const [tag, tagEnv] of Object.entries(tags)) {
          if (!TAG.test(tag)) {
            skip(`${at}/tags/${tag}`, "not a lowercase tag name berth accepts (letters, digits, _ and -)");
            continue;
          }
          mapped[tag] = mapEnv(ctx, tagEnv, `${at}/tags/${tag}`, false) ?? {};
        }
        if (Object.keys(mapped).length > 0) out.tags = mapped;
      }
    }
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

export function mapOptions(ctx: ImportContext, value: unknown, at: string): Record<string, unknown> | undefined {
  const opts = ctx.hash(value, at);
  if (!opts) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(opts)) {
    if (k in RUN_OPTIONS) out[k] = v;
    else
      ctx.skip(`${at}/${k}`, `docker run option berth does not pass (supported: ${Object.keys(RUN_OPTIONS).length})`);
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

export function mapLogging(ctx: ImportContext, value: unknown, at: string): Record<string, unknown> | undefined {
  const { hash, knownKeys, str } = ctx;
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

export function mergeLogging(
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
