// The berth program: read the stack's configuration, build the deployment, return its outputs.
//
// Pulumi's launcher calls an exported function and takes the stack outputs from what it resolves
// to (@pulumi/pulumi cmd/run/run.js). The program is asynchronous because the version to keep,
// when the stack file names none, is read from the stack's own state before any resource exists.
import * as pulumi from "@pulumi/pulumi";
import { ConfigError } from "./config/load";
import { deployRefusal } from "./config/rollout";
import { loadStack } from "./config/stack";
import { deploy, stackOutputs, StackOutputs } from "./components/deployment";

async function berth(): Promise<StackOutputs> {
  try {
    const { config, secrets } = await loadStack();
    // Maintenance windows: an update outside them stops here, before any resource is registered,
    // so nothing changes; a preview always runs.
    const refusal = deployRefusal(config.deployWindows, {
      preview: pulumi.runtime.isDryRun(),
      env: process.env,
      now: new Date(),
    });
    if (refusal) throw new pulumi.RunError(refusal);
    return stackOutputs(config, deploy(config, secrets));
  } catch (err) {
    // A configuration mistake is the user's to fix: show the message, not a stack trace,
    // and stop before any resource is registered.
    if (err instanceof ConfigError) throw new pulumi.RunError(err.message);
    throw err;
  }
}

export = berth;
