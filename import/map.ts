// Turns a loaded Kamal configuration into berth stack configuration. Every Kamal key is either
// mapped, or reported with the reason it has no equivalent yet; nothing is dropped silently.
// Each Kamal section has its own file under sections/, as Kamal's configuration layer has one
// class per section; this file reads the root keys and calls them in order.
import { FINGERPRINT_KEY } from "../config/schema";
import { ImportContext, ImportOptions, SecretNeed, Unmapped } from "./context";
import { isHash, KamalConfigError, Placeholder } from "./kamal";
import { mapAccessories } from "./sections/accessories";
import { mapAliases } from "./sections/aliases";
import { mapBoot } from "./sections/boot";
import { mapBuilder } from "./sections/builder";
import { mapEnv, mountOptions, NO_STOP_TIMEOUT } from "./sections/container";
import { mapAppProxy } from "./sections/proxy";
import { mapImage } from "./sections/registry";
import { mapServers } from "./sections/servers";
import { mapSsh } from "./sections/ssh";

export type { ImportOptions, SecretNeed, Unmapped } from "./context";
export { aliasCommand, BUILT_IN_COMMANDS } from "./sections/aliases";

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
  "healthcheck",
];

/** Why a Kamal key has no berth equivalent yet, by key (the last segment of its path). */
const NO_EQUIVALENT: Record<string, string> = {
  hooks_output: "berth shows hook output in the Pulumi log; there is no quiet/verbose switch",
  secrets_path: "berth reads secrets from berth:secrets (Pulumi secret config), not from .kamal/secrets",
  error_pages_path: "berth does not upload custom error pages to kamal-proxy yet",
  require_destination: "a berth stack is always chosen explicitly (pulumi stack select)",
  allow_empty_roles: "every berth role lists at least one host",
  minimum_version: "a Kamal version check; berth's version is the project's own",
  stop_timeout: NO_STOP_TIMEOUT,
  run_directory: "berth keeps its state on hosts in its own fixed directories",
  sshkit: "berth's SSH steps run through Pulumi, without SSHKit tuning",
  output: "berth logs through Pulumi; no OpenTelemetry or file output settings",
};

export function mapKamal(kamal: Record<string, unknown>, opts: ImportOptions = {}): ImportResult {
  const ctx = new ImportContext(opts);
  const { problems, unmapped, notes, secrets, placeholders, projectPath, local } = ctx;
  const { problem, skipKeys, needSecret, knownKeys, str, int, strings } = ctx;

  if (!isHash(kamal)) throw new KamalConfigError(["should be a hash of settings"]);
  knownKeys(kamal, ROOT_KEYS, "root");
  skipKeys(kamal, NO_EQUIVALENT);

  // --- service, image, version, registry
  const service = str(kamal.service, "service");
  if (service === undefined) problem("service", "required");
  const { image, version, registry } = mapImage(ctx, kamal);

  // --- servers, roles and hosts
  const roles = mapServers(ctx, kamal);
  const { hosts, servers } = roles;

  // --- env, volumes, assets, hooks, timings
  const env = mapEnv(ctx, kamal.env, "env", true);
  const volumes = strings(kamal.volumes, "volumes")?.map((v, i) => mountOptions(ctx, v, `volumes/${i}`));
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

  // --- proxy, DNS and load balancer
  const primaryName = roles.primaryRole !== undefined ? roles.roleName(roles.primaryRole) : "web";
  const { proxy, dns, loadBalancer } = mapAppProxy(ctx, kamal, servers, primaryName);

  // --- builder, ssh, boot
  const builder = mapBuilder(ctx, kamal.builder);
  const ssh = mapSsh(ctx, kamal.ssh);
  const boot = mapBoot(ctx, kamal.boot);

  // --- accessories, aliases
  const accessories = mapAccessories(ctx, kamal, service, roles);
  const aliases = mapAliases(ctx, kamal.aliases);

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
  put("primaryRole", roles.primaryRole !== undefined ? primaryName : undefined);
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
}
