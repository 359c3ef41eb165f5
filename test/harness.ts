// Test helpers around the offline renderer (plan/render.ts): the example stacks with test
// secrets (plan/examples.ts), and lookups over what a render recorded.
import * as pulumi from "@pulumi/pulumi";
import { Recorded } from "../plan/render";

export { diffRenders, resolve, run } from "../plan/render";
export type { Recorded, RenderDiff, RunResult } from "../plan/render";
export { EXAMPLE_SECRETS, EXAMPLES, ROOT, runIndex, stackConfig, testSecret } from "../plan/examples";
export { transitiveDependencies } from "../guard/steps";

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
