// The berth program: read the stack's configuration, build the deployment, export its outputs.
import * as pulumi from "@pulumi/pulumi";
import { ConfigError } from "./config/load";
import { loadStack } from "./config/stack";
import { deploy, stackOutputs, StackOutputs } from "./components/deployment";

function main(): StackOutputs {
  try {
    const { config, secrets } = loadStack();
    return stackOutputs(config, deploy(config, secrets));
  } catch (err) {
    // A configuration mistake is the user's to fix: show the message, not a stack trace,
    // and stop before any resource is registered.
    if (err instanceof ConfigError) throw new pulumi.RunError(err.message);
    throw err;
  }
}

const outputs = main();
export const service = outputs.service;
export const stack = outputs.stack;
export const version = outputs.version;
export const hosts = outputs.hosts;
export const knownHosts = outputs.knownHosts;
export const loadBalancer = outputs.loadBalancer;
export const dnsRecords = outputs.dnsRecords;
export const roles = outputs.roles;
export const accessories = outputs.accessories;
export const databaseUrls = outputs.databaseUrls;
