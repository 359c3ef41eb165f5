// The only place that reads Pulumi configuration: the engine's config map becomes a validated
// DeployConfig, and the values of berth:secrets become Pulumi secrets.
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, configKeyProblems, fromEngineConfig, NAMESPACE, parseConfig } from "./load";
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
  const problems = configKeyProblems(all, pulumi.getProject(), isConfigSecret, pulumi.getStack());
  if (problems.length > 0) throw new ConfigError(problems);
  const config = parseConfig(fromEngineConfig(all), pulumi.getStack());
  const values =
    new pulumi.Config(NAMESPACE).getSecretObject<Record<string, string>>("secrets") ??
    pulumi.secret<Record<string, string>>({});
  return { config, secrets: secretsFrom(values) };
}
