// Test helpers around the offline renderer (plan/render.ts): the example stacks with test
// secrets (plan/examples.ts), and lookups over what a render recorded.
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ROOT, runIndex, stackConfig } from "../../plan/examples";
import { Recorded } from "../../plan/render";

export { diffRenders, resolve, run } from "../../plan/render";
export type { Recorded, RenderDiff, RunResult } from "../../plan/render";
export { EXAMPLE_SECRETS, EXAMPLES, ROOT, runIndex, stackConfig, testSecret } from "../../plan/examples";
export { transitiveDependencies } from "../../guard/steps";

/** The tests' fixtures: stand-in programs and the files the tests read. */
export const FIXTURES = path.join(ROOT, "test", "fixtures");

/** The stand-in `pulumi`: records every command berth runs, keeps config and each stack's history. */
export const STAND_IN_PULUMI = path.join(FIXTURES, "pulumi.cjs");

/** A value a test can await: the plain value of an Output. */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((r) => output.apply(r));
}

export const byType = (resources: Recorded[], type: string) => resources.filter((r) => r.type === type);
export const named = (resources: Recorded[], name: string) => {
  const found = resources.find((r) => r.name === name);
  if (!found) throw new Error(`no resource named ${name}; have: ${resources.map((r) => r.name).join(", ")}`);
  return found;
};

/** The version the example stacks bump to in the tests, from the 2026.11.1 they run. */
export const NEXT_VERSION = "2026.11.2";

/** The change of a version bump, for stackConfig. */
export const bumpVersion = (c: Record<string, unknown>) => (c["berth:version"] = NEXT_VERSION);

/** The change that has berth create the stack's zone in Hetzner DNS, for stackConfig. */
export const createZone = (c: Record<string, unknown>) =>
  ((c["berth:dns"] as Record<string, unknown>).createZone = true);

const bumps = new Map<string, Promise<{ before: Recorded[]; after: Recorded[] }>>();

/** An example stack rendered as it runs and after a version bump: rendered once per test process. */
export function versionBump(stack: string): Promise<{ before: Recorded[]; after: Recorded[] }> {
  let renders = bumps.get(stack);
  if (!renders) {
    renders = (async () => ({
      before: (await runIndex(stack, stackConfig(stack))).resources,
      after: (await runIndex(stack, stackConfig(stack, bumpVersion))).resources,
    }))();
    bumps.set(stack, renders);
  }
  return renders;
}
