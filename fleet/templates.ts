// Deployment templates: typed data (a zod schema of variables) that renders to a berth stack's
// configuration, the `berth:` keys of Pulumi.<stack>.yaml. Every rendering is checked by berth's
// own schema (config/load.ts) before anything is queued, so a template can never queue a deploy
// that `pulumi up` would reject for its configuration.
import { z } from "zod";
import { ConfigError, parseConfig } from "../config/load";
import { parseRequest } from "./problems";

/** A registered server, as templates need it. */
export interface ServerRef {
  name: string;
  kind: "existing" | "hetzner";
  address?: string | null;
  ipv6?: string | null;
  private_address?: string | null;
  /** An existing machine's SSH host keys, as ssh-keyscan prints them. */
  host_keys?: string[] | null;
  server_type?: string | null;
  location?: string | null;
  /** The Hetzner project's name for ssh_public_key, which every Hetzner server of the fleet is given. */
  hetzner_key_name?: string | null;
  /** A Hetzner server being replaced on purpose (berth's `replace`). */
  replace?: string | null;
  ssh_user: string;
  ssh_port: number;
  ssh_public_key: string;
}

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;

const baseVariables = z.strictObject({
  image: z.string().min(1).describe("Image repository without tag, e.g. ghcr.io/acme/shop."),
  version: z.string().min(1).describe("Image tag or digest to deploy."),
  domain: z.string().optional().describe("Public host name the app answers on, e.g. shop.example.com."),
  dnsZone: z
    .string()
    .optional()
    .describe("Hetzner DNS zone for the domain's records; leave out to manage DNS elsewhere."),
  env: z.record(z.string().regex(envName, "must be an environment variable name"), z.string()).default({}),
  secretEnv: z
    .array(z.string().regex(envName, "must be an environment variable name"))
    .default([])
    .describe("Names of environment variables whose values are secrets (given under `secrets`)."),
  registry: z
    .strictObject({ server: z.string().min(1), username: z.string().min(1) })
    .optional()
    .describe("Private registry; its password is the secret KAMAL_REGISTRY_PASSWORD."),
});
type BaseVariables = z.output<typeof baseVariables>;

export interface RenderContext {
  app: string;
  environment: string;
  servers: ServerRef[];
  /** Secret names the deploy provides or the stack already holds. */
  secretNames: string[];
}

export interface Template<V extends z.ZodType = z.ZodType> {
  name: string;
  title: string;
  description: string;
  variables: V;
  /** Health path checked after a deploy, when the app has a domain. */
  healthPath?: string;
  /** Secrets every deploy of this template needs. */
  requiredSecrets(vars: z.output<V>): string[];
  render(vars: z.output<V>, ctx: RenderContext): Record<string, unknown>;
}

function hosts(servers: ServerRef[]): Record<string, unknown> {
  return Object.fromEntries(
    servers.map((s) => [
      s.name,
      s.kind === "existing"
        ? {
            address: s.address,
            ...(s.ipv6 ? { ipv6: s.ipv6 } : {}),
            ...(s.private_address ? { privateAddress: s.private_address } : {}),
            hostKeys: s.host_keys ?? [],
          }
        : { serverType: s.server_type, location: s.location, ...(s.replace ? { replace: s.replace } : {}) },
    ]),
  );
}

/** What every template shares: service, image, hosts, ssh, registry, env, DNS. */
function common(vars: BaseVariables, ctx: RenderContext, role: Record<string, unknown>): Record<string, unknown> {
  const first = ctx.servers[0];
  const hetzner = ctx.servers.find((s) => s.kind === "hetzner");
  const secretEnv = [...new Set(vars.secretEnv)];
  const config: Record<string, unknown> = {
    service: ctx.app,
    image: vars.image,
    version: vars.version,
    hosts: hosts(ctx.servers),
    servers: { web: { hosts: ctx.servers.map((s) => s.name), ...role } },
    ssh: {
      user: first?.ssh_user ?? "root",
      port: first?.ssh_port ?? 22,
      publicKey: first?.ssh_public_key ?? "",
      ...(hetzner?.hetzner_key_name ? { hetznerKeyName: hetzner.hetzner_key_name } : {}),
      ...(ctx.secretNames.includes("SSH_PRIVATE_KEY") ? { privateKeySecret: "SSH_PRIVATE_KEY" } : {}),
    },
  };
  if (Object.keys(vars.env).length || secretEnv.length)
    config.env = {
      ...(Object.keys(vars.env).length ? { clear: vars.env } : {}),
      ...(secretEnv.length ? { secret: secretEnv } : {}),
    };
  if (vars.registry) config.registry = { ...vars.registry, passwordSecret: "KAMAL_REGISTRY_PASSWORD" };
  if (vars.domain && vars.dnsZone) config.dns = { zone: vars.dnsZone, hosts: [vars.domain] };
  return config;
}

const registrySecret = (vars: BaseVariables) => (vars.registry ? ["KAMAL_REGISTRY_PASSWORD"] : []);

const railsVariables = baseVariables.extend({
  jobs: z.boolean().default(false).describe("Run a job role (bin/jobs) beside web."),
});
const rails: Template<typeof railsVariables> = {
  name: "rails",
  title: "Rails",
  description: "A Rails app behind kamal-proxy with Let's Encrypt, optionally a Solid Queue job role.",
  variables: railsVariables,
  healthPath: "/up",
  requiredSecrets: (vars) => [...new Set(["RAILS_MASTER_KEY", ...vars.secretEnv, ...registrySecret(vars)])],
  render(vars, ctx) {
    const config = common({ ...vars, secretEnv: ["RAILS_MASTER_KEY", ...vars.secretEnv] }, ctx, {});
    if (vars.domain) config.proxy = { hosts: [vars.domain], healthcheck: { path: "/up" } };
    if (vars.jobs) (config.servers as Record<string, unknown>).job = { hosts: [ctx.servers[0].name], cmd: "bin/jobs" };
    config.volumes = ["storage:/rails/storage"];
    return config;
  },
};

const nextjsVariables = baseVariables.extend({
  port: z.number().int().min(1).max(65535).default(3000).describe("Port the Next.js server listens on."),
});
const nextjs: Template<typeof nextjsVariables> = {
  name: "nextjs",
  title: "Next.js",
  description: "A Next.js server (next start) behind kamal-proxy with Let's Encrypt.",
  variables: nextjsVariables,
  healthPath: "/",
  requiredSecrets: (vars) => [...new Set([...vars.secretEnv, ...registrySecret(vars)])],
  render(vars, ctx) {
    const config = common(vars, ctx, {});
    config.proxy = { ...(vars.domain ? { hosts: [vars.domain] } : {}), appPort: vars.port, healthcheck: { path: "/" } };
    return config;
  },
};

const postgresVariables = baseVariables.extend({
  database: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, "must be a lowercase database name")
    .default("app"),
  user: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, "must be a lowercase user name")
    .default("app"),
});
const postgres: Template<typeof postgresVariables> = {
  name: "postgres",
  title: "PostgreSQL",
  description: "A PostgreSQL server, its data in a docker volume kept across versions; no proxy.",
  variables: postgresVariables,
  requiredSecrets: (vars) => [...new Set(["POSTGRES_PASSWORD", ...vars.secretEnv, ...registrySecret(vars)])],
  render(vars, ctx) {
    const config = common(
      {
        ...vars,
        env: { POSTGRES_DB: vars.database, POSTGRES_USER: vars.user, ...vars.env },
        secretEnv: ["POSTGRES_PASSWORD", ...vars.secretEnv],
      },
      ctx,
      { proxy: false },
    );
    config.volumes = ["data:/var/lib/postgresql/data"];
    return config;
  },
};

const redisVariables = baseVariables.extend({
  appendOnly: z.boolean().default(true).describe("Persist every write (redis-server --appendonly yes)."),
});
const redis: Template<typeof redisVariables> = {
  name: "redis",
  title: "Redis",
  description: "A Redis server with its data in a docker volume; no proxy.",
  variables: redisVariables,
  requiredSecrets: (vars) => [...new Set([...vars.secretEnv, ...registrySecret(vars)])],
  render(vars, ctx) {
    const config = common(vars, ctx, {
      proxy: false,
      cmd: `redis-server --appendonly ${vars.appendOnly ? "yes" : "no"}`,
    });
    config.volumes = ["data:/data"];
    return config;
  },
};

export const TEMPLATES: Record<string, Template> = { rails, nextjs, postgres, redis } as Record<string, Template>;

/** A user mistake in a deploy request: each problem names where it is and how to fix it. */
export class InputError extends Error {
  constructor(
    readonly problems: string[],
    readonly status = 400,
  ) {
    super(problems.join("; "));
    this.name = "InputError";
  }
}

export interface Rendered {
  template: Template;
  variables: Record<string, unknown>;
  /** The `berth:` configuration, secrets left out (they travel as Pulumi secrets only). */
  config: Record<string, unknown>;
  requiredSecrets: string[];
}

/**
 * Checks the variables against the template's schema, renders them and validates the result
 * with berth's own schema. Problems name `variables.<path>` or the `berth:` config path.
 */
export function renderTemplate(name: string, variables: unknown, ctx: RenderContext): Rendered {
  const template = TEMPLATES[name];
  if (!template)
    throw new InputError([`template: unknown template "${name}"; use one of ${Object.keys(TEMPLATES).join(", ")}`]);
  const parsed = parseRequest(template.variables, variables ?? {}, "variables");
  if (parsed.problems) throw new InputError(parsed.problems);
  const vars = parsed.value as Record<string, unknown>;
  // A stack has one SSH configuration for all its hosts.
  const [first, ...rest] = ctx.servers;
  const differ = rest.flatMap((s, i) =>
    s.ssh_user !== first.ssh_user ||
    s.ssh_port !== first.ssh_port ||
    s.ssh_public_key !== first.ssh_public_key ||
    (s.kind === "hetzner" && first.kind === "hetzner" && s.hetzner_key_name !== first.hetzner_key_name)
      ? [
          `servers[${i + 1}]: server ${s.name} is reached with another SSH user, port or key than ${first.name}; one deploy uses one SSH configuration for all its servers: deploy onto servers that share it`,
        ]
      : [],
  );
  if (differ.length) throw new InputError(differ);
  const requiredSecrets = template.requiredSecrets(vars);
  const config = template.render(vars, { ...ctx, secretNames: [...new Set([...ctx.secretNames, ...requiredSecrets])] });
  // Secrets are validated by name only: the placeholder values never leave this function. Each is
  // as long as the fingerprint key must be, which the fleet draws itself.
  const names = [...new Set([...ctx.secretNames, ...requiredSecrets])];
  try {
    parseConfig(
      { ...config, secrets: Object.fromEntries(names.map((n) => [n, "a-pulumi-secret-of-the-stack-000000"])) },
      `${ctx.app}-${ctx.environment}`,
    );
  } catch (err) {
    if (err instanceof ConfigError)
      throw new InputError(err.problems.map((p) => `rendered ${template.name} config: ${p}`));
    throw err;
  }
  return { template, variables: vars, config, requiredSecrets };
}

/** The engine's flat config map for a rendered config: `berth:<key>` -> string or JSON. */
export function engineConfig(config: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(config).map(([k, v]) => [`berth:${k}`, typeof v === "string" ? v : JSON.stringify(v)]),
  );
}
