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
 * Reads and validates the current stack's configuration. Throws ConfigError on bad input.
 *
 * `berth:version` absent from the stack's configuration means "the version deployed now", so a
 * checkout whose stack file does not name a version (every machine but the one that set it)
 * neither rolls the app back nor forward; only an explicit `berth:version` changes it.
 */
export async function loadStack(): Promise<{ config: DeployConfig; secrets: Secrets }> {
  const raw = fromEngineConfig(pulumi.runtime.allConfig());
  if (raw.version === undefined) {
    // Everything else is checked first, so a mistake stops the run before the read below.
    parseConfig({ ...raw, version: "unset" }, pulumi.getStack());
    const deployed = await deployedVersion();
    if (deployed !== undefined) raw.version = deployed;
  }
  const config = parseConfig(raw, pulumi.getStack());
  const values =
    new pulumi.Config(NAMESPACE).getSecretObject<Record<string, string>>("secrets") ??
    pulumi.secret<Record<string, string>>({});
  return { config, secrets: secretsFrom(values) };
}
