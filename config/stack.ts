// The only place that reads Pulumi configuration: the engine's config map becomes a validated
// DeployConfig, and the values of berth:secrets become Pulumi secrets.
import * as crypto from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigError, configKeyProblems, fromEngineConfig, NAMESPACE, parseConfig, withPositions } from "./load";
import { readPulumiYaml } from "./yaml";
import { SharedServer, sharedOutputSchema, sharedProblem } from "./attach";
import { DeployConfig, FINGERPRINT_KEY } from "./schema";

/** Secret values by name. Each is a Pulumi secret, so it is masked in previews, logs and state. */
export interface Secrets {
  get(name: string): pulumi.Output<string>;
  /**
   * A short fingerprint (8 hex digits) of `plain` and of the values of the secrets `secretNames`,
   * for names that must change whenever any of them changes (see `fingerprint` below).
   */
  fingerprint(plain: unknown, secretNames?: string[]): string;
}

/** JSON with object keys sorted, so equal values always give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/**
 * A fingerprint that may appear in resource names, container names and plain outputs even
 * though it covers secret values. A plain hash of a secret would let anyone who reads a name
 * confirm a guess of the secret (hash a candidate password, compare). So whenever a key is
 * set, the fingerprint is HMAC-SHA256 keyed with berth:secrets.BERTH_FINGERPRINT_KEY, a random
 * value of at least 32 characters that exists only in the stack's secret config: without it a
 * fingerprint says nothing about the values it covers, and guesses cannot be checked against
 * it. Without a key only non-secret values may be covered (a plain SHA-256 of text that is
 * visible in the stack's config anyway); the schema requires the key as soon as app
 * containers receive a secret.
 */
export function fingerprint(
  values: Record<string, string> | undefined,
  plain: unknown,
  secretNames: string[] = [],
): string {
  const names = [...new Set(secretNames)].sort();
  if (names.length > 0 && values === undefined)
    throw new Error("fingerprint: secret values are needed to fingerprint secrets");
  const key = values?.[FINGERPRINT_KEY];
  if (names.length > 0 && !key)
    throw new Error(`fingerprint: berth:secrets.${FINGERPRINT_KEY} must be set to fingerprint secret values`);
  const text = canonicalJson({ plain, secrets: Object.fromEntries(names.map((n) => [n, values![n] ?? ""])) });
  const digest = key ? crypto.createHmac("sha256", key).update(text) : crypto.createHash("sha256").update(text);
  return digest.digest("hex").slice(0, 8);
}

/**
 * Secrets from their plain values (as the engine hands them to the program), or from a secret
 * Output of them, which serves `get` but can fingerprint non-secret values only.
 */
export function secretsFrom(values: Record<string, string> | pulumi.Output<Record<string, string>>): Secrets {
  if (pulumi.Output.isInstance(values)) {
    return {
      get: (name) => pulumi.secret(values.apply((all) => all[name] ?? "")),
      fingerprint: (plain, secretNames) => fingerprint(undefined, plain, secretNames),
    };
  }
  const plainValues = { ...values };
  return {
    get: (name) => pulumi.secret(plainValues[name] ?? ""),
    fingerprint: (plain, secretNames) => fingerprint(plainValues, plain, secretNames),
  };
}

/**
 * The name a stack reference needs to reach this very stack. The diy backends (file://, s3://...)
 * accept the bare stack name in both of their layouts, and only the organization "organization"
 * (pulumi/pulumi pkg/backend/diy/store.go); Pulumi Cloud wants org/project/stack, since a bare
 * name would resolve against the user's default organization.
 */
function ownStackName(): string {
  let org: string | undefined;
  try {
    org = pulumi.getOrganization();
  } catch {
    org = undefined;
  }
  return !org || org === "organization" ? pulumi.getStack() : `${org}/${pulumi.getProject()}/${pulumi.getStack()}`;
}

/**
 * The version this stack's last update deployed: its own `version` output, read through a stack
 * reference to itself. Pulumi reads it from the backend after the update holds the stack's lock,
 * and the root stack keeps its previous outputs until the program has finished
 * (pulumi/pulumi pkg/resource/deploy/step.go, SameStep), so this is the version that is live,
 * whichever machine runs the update. Undefined before the first deploy.
 */
export async function deployedVersion(): Promise<string | undefined> {
  const self = new pulumi.StackReference("berth-deployed", { name: ownStackName() });
  const details = await self.getOutputDetails("version");
  const value = details.value ?? details.secretValue;
  return typeof value === "string" && value !== "" ? value : undefined;
}

/**
 * The hosts the server stack of berth:attach shares, read through a stack reference: its `shared`
 * output as its last update left it. Undefined when berth:attach names no stack (or a malformed
 * one, which validation reports).
 */
async function sharedServer(raw: Record<string, unknown>): Promise<SharedServer | undefined> {
  const attach = raw.attach as { stack?: unknown } | undefined;
  const stack = attach && typeof attach === "object" ? attach.stack : undefined;
  if (typeof stack !== "string" || !/^([A-Za-z0-9_.-]+\/){0,2}[A-Za-z0-9_.-]+$/.test(stack)) return undefined;
  const server = new pulumi.StackReference("berth-attach", { name: stack });
  const details = await server.getOutputDetails("shared");
  const value = details.value ?? details.secretValue;
  const problem = sharedProblem(stack, value);
  if (problem) throw new ConfigError([`${NAMESPACE}:attach.stack: ${problem}`]);
  return { ...sharedOutputSchema.parse(value), stack };
}

// The SDK knows which config keys the engine marked secret (PULUMI_CONFIG_SECRET_KEYS, read by
// @pulumi/pulumi runtime/config.js isConfigSecret) but leaves the function out of its typings.
const runtimeSecret = (pulumi.runtime as unknown as { isConfigSecret?: (key: string) => boolean }).isConfigSecret;
const isConfigSecret = (key: string) => runtimeSecret?.(key) ?? true;

/**
 * Reads and validates the current stack's configuration. Throws ConfigError on bad input, each
 * problem with the line and column of its key when the stack file is beside the program.
 *
 * `berth:version` absent from the stack's configuration means "the version deployed now", so a
 * checkout whose stack file does not name a version (every machine but the one that set it)
 * neither rolls the app back nor forward; only an explicit `berth:version` changes it.
 */
export async function loadStack(): Promise<{ config: DeployConfig; secrets: Secrets }> {
  const all = pulumi.runtime.allConfig();
  const stack = pulumi.getStack();
  try {
    const problems = configKeyProblems(all, pulumi.getProject(), isConfigSecret, stack);
    if (problems.length > 0) throw new ConfigError(problems);
    const raw = fromEngineConfig(all);
    const shared = await sharedServer(raw);
    if (raw.version === undefined) {
      // Everything else is checked first, so a mistake stops the run before the read below.
      parseConfig({ ...raw, version: "unset" }, stack, undefined, undefined, { shared });
      const deployed = await deployedVersion();
      if (deployed !== undefined) raw.version = deployed;
    }
    const config = parseConfig(raw, stack, undefined, undefined, { shared });
    // parseConfig checked that berth:secrets, when set, is a map of strings (the engine hands the
    // program secret config decrypted). Every value leaves here only as a Pulumi secret or inside
    // a keyed fingerprint.
    const values = (raw.secrets ?? {}) as Record<string, string>;
    return { config, secrets: secretsFrom(values) };
  } catch (err) {
    // The engine passes values, not where they were written: the stack file, when it is here, says.
    const file = path.join(process.cwd(), `Pulumi.${stack}.yaml`);
    if (!(err instanceof ConfigError) || !fs.existsSync(file)) throw err;
    const { positions } = readPulumiYaml(fs.readFileSync(file, "utf8"));
    const named = new Map([...positions].map(([k, at]) => [k.includes(":") ? k : `${NAMESPACE}:${k}`, at]));
    throw new ConfigError(withPositions(err.problems, named, file), err.source);
  }
}
