// Longer than 400 lines: the schema of everything the app's containers run (env, roles, proxy, registry, builder, boot), described key by key.
// Schema sections that describe how the app runs: env, roles, proxy, registry, builder, boot.
// Kamal's deploy.yml names are given in each description so users can map their config.
import { parse as parseShellWords } from "shell-quote";
import { z } from "zod";
import { CREDENTIAL_AS_NAME, looksLikeCredential, SECRET_NAME } from "./secrets";

/** A command line split into words the way a shell would (quotes kept, variables left as written). */
export function commandWords(cmd: string): string[] | undefined {
  const words = parseShellWords(cmd, (name) => `$${name}`);
  return words.every((w) => typeof w === "string") ? (words as string[]) : undefined;
}

/** A container command line, split like a shell would split it but never run through one. */
export const commandSchema = z
  .string()
  .min(1)
  .refine((c) => commandWords(c) !== undefined, "runs without a shell: for pipes, redirections or ; use sh -c '...'");

/** A mount: a named docker volume or a host path, onto a container path. */
export const mountSpecSchema = z
  .string()
  .regex(
    /^([A-Za-z0-9][A-Za-z0-9_.-]*|\/[^:\s]*):\/[^:\s]*(:(ro|rw))?$/,
    "must be NAME:/container/path or /host/path:/container/path, optionally with :ro",
  );

/** A secret's name. A credential pasted where its name belongs is refused, and never repeated. */
export const secretName = z
  .string()
  .regex(
    SECRET_NAME,
    "must be the name of a berth:secrets entry: letters, digits and underscores, at most 64, such as DB_PASSWORD",
  )
  .refine((name) => !looksLikeCredential(name), CREDENTIAL_AS_NAME);

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name");

/** A duration in whole seconds. */
const seconds = (what: string) => z.number().int().min(1).max(86400).optional().describe(`${what}, in seconds.`);

/** The `ssl` value that asks for a Cloudflare Origin CA certificate. */
export const ORIGIN_CERTIFICATE = "cloudflare-origin";

export const envSchema = z
  .strictObject({
    clear: z
      .record(envName, z.union([z.string(), z.number(), z.boolean()]))
      .optional()
      .describe("Plain environment variables (Kamal's env.clear). Visible in the preview and in state."),
    secret: z
      .array(
        z
          .string()
          .regex(
            /^[A-Za-z_][A-Za-z0-9_]{0,63}(:[A-Za-z_][A-Za-z0-9_]{0,63})?$/,
            "must be NAME, or NAME:SECRET to read the variable from another berth:secrets entry",
          )
          .refine((entry) => !entry.split(":").some(looksLikeCredential), CREDENTIAL_AS_NAME),
      )
      .optional()
      .describe(
        "Names of variables whose values come from berth:secrets (Kamal's env.secret). `DB_PASSWORD:MAIN_DB_PASSWORD` sets DB_PASSWORD from the secret MAIN_DB_PASSWORD.",
      ),
  })
  .describe("Environment of the containers (Kamal's env).");
export type EnvConfig = z.output<typeof envSchema>;

export const tagName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "must be a lowercase tag such as primary or eu (letters, digits, _ and -)");

/** The app's env: Kamal's env, plus env per host tag. */
export const rootEnvSchema = envSchema
  .extend({
    tags: z
      .record(tagName, envSchema.describe("Variables of the app containers on hosts with this tag."))
      .optional()
      .describe(
        "Env per host tag (Kamal's env.tags): app containers on a host whose berth:hosts.<name>.tags list the tag get these variables, over the app's and the role's.",
      ),
  })
  .describe("Environment of the app containers (Kamal's env).");

/** Docker run options berth understands, with the Container input each maps to. */
export const RUN_OPTIONS = {
  memory: "memory limit, e.g. 512m or 2g",
  "memory-reservation": "soft memory limit, e.g. 256m",
  "memory-swap": "memory plus swap limit, e.g. 1g",
  cpus: "number of CPUs, e.g. 1.5",
  "cpu-shares": "relative CPU weight, e.g. 512",
  "shm-size": "size of /dev/shm, e.g. 256m",
  user: "user the process runs as, e.g. 1000:1000",
  workdir: "working directory inside the container",
  init: "run an init process (true/false)",
  "read-only": "read-only root filesystem (true/false)",
  "stop-signal": "signal that stops the container, e.g. SIGTERM",
  "add-host": "extra /etc/hosts entry host:ip (a list for several)",
  "cap-add": "Linux capability to add (a list for several)",
  "cap-drop": "Linux capability to drop (a list for several)",
  ulimit: "ulimit name=soft:hard (a list for several)",
  tmpfs: "tmpfs mount path[:options] (a list for several)",
  "security-opt": "security option (a list for several)",
  sysctl: "kernel parameter name=value (a list for several)",
} as const;
export type RunOption = keyof typeof RUN_OPTIONS;

/** Run options in the shape of the docker provider's Container inputs (sizes in MB). */
export interface ContainerOptions {
  memory?: number;
  memoryReservation?: number;
  memorySwap?: number;
  cpus?: string;
  cpuShares?: number;
  shmSize?: number;
  user?: string;
  workingDir?: string;
  init?: boolean;
  readOnly?: boolean;
  stopSignal?: string;
  hosts?: { host: string; ip: string }[];
  capAdd?: string[];
  capDrop?: string[];
  ulimits?: { name: string; soft: number; hard: number }[];
  tmpfs?: Record<string, string>;
  securityOpts?: string[];
  sysctls?: Record<string, string>;
}

type OptionValue = string | number | boolean | string[];

/** Size such as 512m, 2g or 1048576 (bytes) in whole MB. */
function megabytes(value: OptionValue): number | undefined {
  const m = /^([0-9]+(?:\.[0-9]+)?)([bkmg]?)$/i.exec(String(value).trim());
  if (!m) return undefined;
  const factor = { "": 1 / (1024 * 1024), b: 1 / (1024 * 1024), k: 1 / 1024, m: 1, g: 1024 }[m[2].toLowerCase()]!;
  const mb = Math.floor(Number(m[1]) * factor);
  return mb >= 1 ? mb : undefined;
}

/**
 * Converts Kamal-style run options into Container inputs, reporting each value it cannot use
 * through `problem` (key, message) so the schema can name the path.
 */
export function containerOptions(
  opts: Record<string, OptionValue>,
  problem: (key: string, message: string) => void = () => {},
): ContainerOptions {
  const out: ContainerOptions = {};
  const list = (v: OptionValue) => (Array.isArray(v) ? v : [String(v)]);
  const size = (key: string, v: OptionValue) => {
    const mb = megabytes(v);
    if (mb === undefined) problem(key, "must be a size such as 512m or 2g (at least 1m)");
    return mb;
  };
  const bool = (key: string, v: OptionValue) => {
    if (typeof v !== "boolean") problem(key, "must be true or false");
    return v === true;
  };
  for (const [key, v] of Object.entries(opts)) {
    switch (key as RunOption) {
      case "memory":
        out.memory = size(key, v);
        break;
      case "memory-reservation":
        out.memoryReservation = size(key, v);
        break;
      case "memory-swap":
        out.memorySwap = size(key, v);
        break;
      case "shm-size":
        out.shmSize = size(key, v);
        break;
      case "cpus":
        if (!/^[0-9]+(\.[0-9]+)?$/.test(String(v)) || Number(v) <= 0)
          problem(key, "must be a positive number such as 1.5");
        out.cpus = String(v);
        break;
      case "cpu-shares":
        if (!Number.isInteger(Number(v)) || Number(v) < 2) problem(key, "must be a whole number of at least 2");
        out.cpuShares = Number(v);
        break;
      case "user":
        out.user = String(v);
        break;
      case "workdir":
        out.workingDir = String(v);
        break;
      case "init":
        out.init = bool(key, v);
        break;
      case "read-only":
        out.readOnly = bool(key, v);
        break;
      case "stop-signal":
        out.stopSignal = String(v);
        break;
      case "add-host":
        out.hosts = list(v).map((entry) => {
          const i = entry.lastIndexOf(":");
          if (i < 1) problem(key, `"${entry}" must be host:ip`);
          return { host: entry.slice(0, i), ip: entry.slice(i + 1) };
        });
        break;
      case "cap-add":
        out.capAdd = list(v);
        break;
      case "cap-drop":
        out.capDrop = list(v);
        break;
      case "ulimit":
        out.ulimits = list(v).map((entry) => {
          const m = /^([a-z]+)=([0-9]+)(?::([0-9]+))?$/.exec(entry);
          if (!m) {
            problem(key, `"${entry}" must be name=soft[:hard], e.g. nofile=1024:2048`);
            return { name: entry, soft: 0, hard: 0 };
          }
          return { name: m[1], soft: Number(m[2]), hard: Number(m[3] ?? m[2]) };
        });
        break;
      case "tmpfs":
        out.tmpfs = Object.fromEntries(
          list(v).map((entry) => {
            const [path, ...rest] = entry.split(":");
            if (!path.startsWith("/")) problem(key, `"${entry}" must be /path[:options]`);
            return [path, rest.join(":")];
          }),
        );
        break;
      case "security-opt":
        out.securityOpts = list(v);
        break;
      case "sysctl":
        out.sysctls = Object.fromEntries(
          list(v).map((entry) => {
            const i = entry.indexOf("=");
            if (i < 1) problem(key, `"${entry}" must be name=value`);
            return [entry.slice(0, i), entry.slice(i + 1)];
          }),
        );
        break;
      default:
        problem(key, `unsupported docker run option; supported: ${Object.keys(RUN_OPTIONS).join(", ")}`);
    }
  }
  return out;
}

const optionValue = z.union([z.string(), z.number(), z.boolean(), z.array(z.string())]);
export const runOptionsSchema = z
  .record(z.string(), optionValue)
  .superRefine((opts, ctx) => {
    containerOptions(opts, (key, message) => ctx.addIssue({ code: "custom", path: [key], message }));
  })
  .describe(`Docker run options (Kamal's options). Supported: ${Object.keys(RUN_OPTIONS).join(", ")}.`);

/** Labels berth sets on containers itself: its commands and `berth details` find containers by them. */
export function reservedLabel(key: string): boolean {
  return ["service", "role", "destination"].includes(key) || key.startsWith("berth.");
}

/** Docker labels a user adds to containers, next to (never over) berth's own. */
export const containerLabelsSchema = z.record(z.string(), z.string()).superRefine((labels, ctx) => {
  for (const key of Object.keys(labels)) {
    if (!reservedLabel(key)) continue;
    ctx.addIssue({
      code: "custom",
      path: [key],
      message:
        "berth sets the service, role and destination labels and every berth.* label itself (its commands find containers by them); use another name",
    });
  }
});

/** Kamal's default when no logging is configured: json-file logs rotated at 10 MB. */
export const DEFAULT_LOG_OPTIONS = { "max-size": "10m" };

export const loggingSchema = z
  .strictObject({
    driver: z.string().min(1).optional().describe("Docker log driver (default json-file)."),
    options: z
      .record(z.string(), z.union([z.string(), z.number()]))
      .optional()
      .describe("Log driver options, e.g. max-size: 100m."),
  })
  .describe(
    "Container logging (Kamal's logging). Default, as in Kamal: the daemon's log driver with max-size 10m, so logs cannot fill the disk. Setting driver or options replaces that default entirely (keep max-size in options to keep rotation).",
  );

const hostHeader = z
  .string()
  // A single word (an intranet name such as homelab) is a host kamal-proxy can route too.
  .regex(
    /^((\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$/,
    "must be a host name such as app.example.com",
  );

/** Proxy settings an app sets once and a role may override. */
const proxyFields = {
  hosts: z
    .array(hostHeader)
    .min(1)
    .optional()
    .describe("Host names kamal-proxy routes to the app (Kamal's proxy.hosts). Default: berth:dns.hosts."),
  ssl: z
    .union([z.boolean(), z.literal(ORIGIN_CERTIFICATE)], {
      error: `must be true (Let's Encrypt), false (plain HTTP) or "${ORIGIN_CERTIFICATE}"`,
    })
    .optional()
    .describe(
      `TLS at kamal-proxy (Kamal's proxy.ssl): \`true\` obtains Let's Encrypt certificates (one host per role; behind proxied Cloudflare records only when Cloudflare lets the HTTP challenge through); \`${ORIGIN_CERTIFICATE}\` installs a Cloudflare Origin CA certificate berth requests for the role's host names (berth:dns.provider cloudflare; any number of hosts; Cloudflare SSL mode Full (strict)); \`false\` serves plain HTTP (behind the load balancer, or Cloudflare in Flexible mode). Default: on for a single host of the primary role with host names and no load balancer, off otherwise.`,
    ),
  sslRedirect: z
    .boolean()
    .optional()
    .describe("Redirect HTTP to HTTPS when ssl is on (Kamal's proxy.ssl_redirect). Default true."),
  appPort: z
    .number()
    .int()
    .min(1)
    .max(65535)
    .optional()
    .describe("Port the app listens on in its container (Kamal's proxy.app_port). Default 80."),
  healthcheck: z
    .strictObject({
      path: z
        .string()
        .regex(/^\/\S*$/, "must start with /")
        .optional()
        .describe("Health check path (default /up)."),
      interval: seconds("Time between health checks (default 1)"),
      timeout: seconds("Time a health check may take (default 5)"),
      port: z
        .number()
        .int()
        .min(1)
        .max(65535)
        .optional()
        .describe("Port of the health check in the container, when not appPort (kamal-proxy's --health-check-port)."),
      maxAttempts: z
        .number()
        .int()
        .min(1)
        .max(1000)
        .optional()
        .describe(
          "How many health checks a new container gets before the deploy fails (Kamal 1's healthcheck.max_attempts): the deploy timeout becomes interval × maxAttempts. Set it or deployTimeout, not both.",
        ),
    })
    .optional()
    .describe("kamal-proxy's health check of a new container before it gets traffic (Kamal's proxy.healthcheck)."),
  responseTimeout: seconds(
    "How long a request may take before kamal-proxy answers 504 (Kamal's proxy.response_timeout, default 30)",
  ),
  buffering: z
    .strictObject({
      requests: z.boolean().optional().describe("Buffer request bodies (default true)."),
      responses: z.boolean().optional().describe("Buffer responses (default true)."),
      memory: z.number().int().min(1).optional().describe("Bytes buffered in memory before spilling to disk."),
      maxRequestBody: z.number().int().min(0).optional().describe("Largest request body in bytes (0: no limit)."),
      maxResponseBody: z.number().int().min(0).optional().describe("Largest response body in bytes (0: no limit)."),
    })
    .optional()
    .describe("Request and response buffering (Kamal's proxy.buffering)."),
  forwardHeaders: z
    .boolean()
    .optional()
    .describe(
      "Pass X-Forwarded-* headers on (Kamal's proxy.forward_headers). Turn on behind the load balancer or Cloudflare.",
    ),
  pathPrefix: z
    .union([z.string().regex(/^\//, "must start with /"), z.array(z.string().regex(/^\//, "must start with /"))])
    .optional()
    .describe("Serve the app below these path prefixes only (Kamal's proxy.path_prefix)."),
  deployTimeout: seconds("How long a new container may take to become healthy (Kamal's deploy_timeout, default 30)"),
  drainTimeout: seconds(
    "How long in-flight requests may finish on the old container (Kamal's drain_timeout, default 30)",
  ),
};

export const roleProxySchema = z.strictObject(proxyFields).describe("Proxy settings for this role, over berth:proxy.");

export const proxySchema = z
  .strictObject({
    ...proxyFields,
    image: z
      .string()
      .regex(
        /^([a-z0-9.-]+(:[0-9]+)?\/)?[^\s:@]+(:[A-Za-z0-9_.-]+)?(@sha256:[a-f0-9]{64})?$/,
        "must be an image reference such as basecamp/kamal-proxy:v0.9.2 or registry.example.com:5000/kamal-proxy:v0.9.2",
      )
      .default("basecamp/kamal-proxy:v0.9.2")
      .describe("kamal-proxy image, pinned (Kamal's proxy.run.version)."),
    manage: z
      .boolean()
      .default(true)
      .describe(
        "Run the kamal-proxy container on this stack's hosts (true), or use one something else runs there (false). To share a server between apps, prefer berth:proxy.sharedHosts in a server stack and berth:attach in each app's stack.",
      ),
    sharedHosts: z
      .array(z.string())
      .min(1)
      .optional()
      .describe(
        "Hosts of this stack (a server stack) whose kamal-proxy serves apps of other stacks: they run kamal-proxy even when no role of this stack is proxied there, and the stack's `shared` output is what app stacks attach with (berth:attach). See docs/topologies.md, Several apps on one server.",
      ),
  })
  .describe("kamal-proxy in front of the proxied roles (Kamal's proxy).");
export type ProxyConfig = z.output<typeof proxySchema>;
export type RoleProxyConfig = z.output<typeof roleProxySchema>;

export const roleSchema = z
  .strictObject({
    hosts: z
      .array(z.string())
      .min(1, "list at least one host")
      .describe("Names of hosts (keys of berth:hosts) that run this role."),
    cmd: commandSchema
      .optional()
      .describe("Command the container runs instead of the image's (Kamal's cmd), e.g. bin/jobs."),
    env: envSchema.optional().describe("Environment for this role, merged over berth:env (Kamal's role env)."),
    labels: containerLabelsSchema
      .optional()
      .describe(
        "Docker labels on this role's containers (Kamal's labels). service, role, destination and berth.* are berth's own.",
      ),
    options: runOptionsSchema.optional(),
    logging: loggingSchema.optional(),
    proxy: z
      .union([z.boolean(), roleProxySchema])
      .optional()
      .describe(
        "Put this role behind kamal-proxy (true, or settings over berth:proxy). Default, as Kamal: true for the primary role when it is web or named by berth:primaryRole, false for other roles.",
      ),
  })
  .describe("A role: a group of hosts running the app the same way (Kamal's servers.<role>).");
export type RoleConfig = z.output<typeof roleSchema>;

export const registrySchema = z
  .strictObject({
    server: z
      .string()
      .min(1)
      .default("docker.io")
      .describe("Registry host, e.g. ghcr.io (Kamal's registry.server). Default Docker Hub."),
    username: z.string().min(1).describe("Registry user (Kamal's registry.username)."),
    passwordSecret: secretName.describe(
      "Name of the berth:secrets entry holding the registry password or token (Kamal's registry.password).",
    ),
  })
  .describe("Credentials for pulling (and pushing) the app image (Kamal's registry). Leave out for a public image.");

export const builderSchema = z
  .strictObject({
    context: z
      .string()
      .min(1)
      .default(".")
      .describe("Build context directory, relative to the project (Kamal's builder.context)."),
    dockerfile: z
      .string()
      .min(1)
      .default("Dockerfile")
      .describe("Dockerfile, relative to the context (Kamal's builder.dockerfile)."),
    args: z
      .record(envName, z.union([z.string(), z.number()]))
      .optional()
      .describe("Build arguments (Kamal's builder.args)."),
    target: z.string().min(1).optional().describe("Build stage to stop at (Kamal's builder.target)."),
    arch: z
      .enum(["amd64", "arm64"])
      .default("amd64")
      .describe("Target architecture (Kamal's builder.arch). Match your servers: cax types are arm64."),
  })
  .describe(
    "Build and push the image from source during `pulumi up`, then deploy the pushed digest (Kamal's builder). Leave out when CI builds the image.",
  );

export const bootSchema = z
  .strictObject({
    limit: z
      .union([z.number().int().min(1), z.string().regex(/^([1-9][0-9]?|100)%$/, "must be a percentage such as 25%")])
      .optional()
      .describe("How many hosts of a role boot at once: a number or a percentage (Kamal's boot.limit). Default: all."),
    wait: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(0)
      .describe("Seconds to wait between groups of hosts (Kamal's boot.wait)."),
  })
  .describe("Rolling deploys over the hosts of a role (Kamal's boot).");

export const hooksSchema = z
  .strictObject({
    path: z
      .string()
      .min(1)
      .default(".kamal/hooks")
      .describe("Directory of hook scripts, relative to the project (Kamal's hooks_path)."),
  })
  .describe("Kamal hooks run on the deploying machine during `pulumi up` (never during preview).");

export const maintenanceSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe("Serve kamal-proxy's maintenance page instead of the app."),
    message: z.string().max(500).optional().describe("Message shown on the maintenance page."),
  })
  .describe("Maintenance mode (Kamal's `kamal app maintenance` / `live`).");

export const aliasesSchema = z
  .record(
    z
      .string()
      .regex(/^[a-z][a-z0-9-]*$/, "must be a command name: lowercase letters, digits and dashes")
      .describe("The name typed after `berth`."),
    z
      .string()
      .min(1)
      .refine((line) => (commandWords(line) ?? []).length > 0, "must be a berth command line such as `logs --role job`")
      .describe("The berth command line it stands for, without `berth` (e.g. `exec -i 'bin/rails runner script.rb'`)."),
  )
  .describe(
    "Your own `berth` commands (Kamal's aliases): `berth NAME ARGS...` runs the command line given here followed by ARGS. An alias cannot replace a built-in command.",
  );
