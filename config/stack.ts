// The only place that reads Pulumi configuration: the engine's config map becomes a validated
// DeployConfig, and the values of berth:secrets become Pulumi secrets.
import * as pulumi from "@pulumi/pulumi";
import { fromEngineConfig, NAMESPACE, parseConfig } from "./load";
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

/** Reads and validates the current stack's configuration. Throws ConfigError on bad input. */
export function loadStack(): { config: DeployConfig; secrets: Secrets } {
  const config = parseConfig(fromEngineConfig(pulumi.runtime.allConfig()), pulumi.getStack());
  const values =
    new pulumi.Config(NAMESPACE).getSecretObject<Record<string, string>>("secrets") ??
    pulumi.secret<Record<string, string>>({});
  return { config, secrets: secretsFrom(values) };
}
