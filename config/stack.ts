// The only place that reads Pulumi configuration: the engine's config map becomes a validated
// DeployConfig, and the values of berth:secrets become Pulumi secrets.
import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigError, configKeyProblems, fromEngineConfig, NAMESPACE, parseConfig, withPositions } from "./load";
import { readPulumiYaml } from "./yaml";
import { DeployConfig } from "./schema";

/** Secret values by name. Each is a Pulumi secret, so it is masked in previews, logs and state. */
export interface Secrets {
  get(name: string): pulumi.Output<string>;
}

export function secretsFrom(values: pulumi.Output<Record<string, string>>): Secrets {
  return {
    get: (name) => pulumi.secret(values.apply((all) => all[name] ?? "")),
  };
}

// The SDK knows which config keys the engine marked secret (PULUMI_CONFIG_SECRET_KEYS, read by
// @pulumi/pulumi runtime/config.js isConfigSecret) but leaves the function out of its typings.
const runtimeSecret = (pulumi.runtime as unknown as { isConfigSecret?: (key: string) => boolean }).isConfigSecret;
const isConfigSecret = (key: string) => runtimeSecret?.(key) ?? true;

/** Reads and validates the current stack's configuration. Throws ConfigError on bad input. */
export function loadStack(): { config: DeployConfig; secrets: Secrets } {
  const all = pulumi.runtime.allConfig();
  const stack = pulumi.getStack();
  try {
    const problems = configKeyProblems(all, pulumi.getProject(), isConfigSecret, stack);
    if (problems.length > 0) throw new ConfigError(problems);
    return { config: parseConfig(fromEngineConfig(all), stack), secrets: secretsFrom(secretValues()) };
  } catch (err) {
    // The engine passes values, not where they were written: the stack file, when it is here, says.
    const file = path.join(process.cwd(), `Pulumi.${stack}.yaml`);
    if (!(err instanceof ConfigError) || !fs.existsSync(file)) throw err;
    const { positions } = readPulumiYaml(fs.readFileSync(file, "utf8"));
    const named = new Map([...positions].map(([k, at]) => [k.includes(":") ? k : `${NAMESPACE}:${k}`, at]));
    throw new ConfigError(withPositions(err.problems, named, file), err.source);
  }
}

function secretValues(): pulumi.Output<Record<string, string>> {
  return (
    new pulumi.Config(NAMESPACE).getSecretObject<Record<string, string>>("secrets") ??
    pulumi.secret<Record<string, string>>({})
  );
}
