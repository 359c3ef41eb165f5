// The example stacks under Pulumi's mock runtime: each change of guard/changes.ts applied to them
// (the blast-radius matrix, with the downtime the change causes), apps added to and removed from a
// shared server, and their secrets audited. guard/docs.ts writes them as documents.
import { Classified, classify } from "./blast";
import { CHANGES, ConfigChange } from "./changes";
import { Downtime, downtime } from "./lifecycle";
import { audit, AuditResult, resolveMarked } from "./secrets";
import { EXAMPLE_SECRETS, runIndex, stackConfig, testSecret } from "../plan/examples";
import { Recorded } from "../plan/render";

export const STACKS = ["production", "staging"];

export interface MatrixEntry {
  change: ConfigChange;
  stack: string;
  rows: Classified[];
  /** The same change played step by step after a first deploy (guard/lifecycle.ts). */
  downtime: Downtime;
}

/** Applies every change to every example stack; entries for changes that do not apply are left out. */
export async function blastMatrix(changes = CHANGES): Promise<MatrixEntry[]> {
  const out: MatrixEntry[] = [];
  for (const stack of STACKS) {
    const before = (await runIndex(stack, stackConfig(stack))).resources;
    for (const change of changes) {
      let applies = true;
      const file = stackConfig(stack, (c) => {
        applies = change.apply(stack, c);
      });
      if (!applies) continue;
      const after = (await runIndex(stack, file)).resources;
      out.push({ change, stack, rows: classify(before, after), downtime: downtime(stack, before, after) });
    }
  }
  return out;
}

/** One stack's part in adding or removing an app on the shared server of examples/shared-server. */
export interface SharedServerRow {
  change: string;
  stack: string;
  /** Empty when the change runs no update of this stack. */
  rows: Classified[];
  updated: boolean;
  /** Names on the server (containers, docker volumes, kamal-proxy services) the change's steps touch that this stack uses. */
  clashes: string[];
}

/** What a stack puts on a shared server under its own name: containers, docker volumes, routes. */
export function serverNames(resources: Recorded[]): Set<string> {
  const names = new Set<string>();
  for (const r of resources) {
    if (r.type === "docker:index/container:Container") {
      names.add(`container ${r.inputs.name}`);
      for (const v of r.inputs.volumes ?? []) if (v.volumeName) names.add(`volume ${v.volumeName}`);
    }
    for (const key of ["create", "delete"])
      for (const m of String(r.inputs[key] ?? "").matchAll(/kamal-proxy (?:deploy|remove) ([^\s;]+)/g))
        names.add(`route ${m[1]}`);
  }
  return names;
}

/**
 * Adding the app stack shop beside blog on the server stack apps, and removing it again (pulumi
 * destroy --stack shop): only shop's stack is updated, and none of the names its steps touch is
 * one the server stack or the other app uses.
 */
export async function sharedServerMatrix(): Promise<SharedServerRow[]> {
  const server = await runIndex("apps", stackConfig("apps"));
  const refs = { apps: server.outputs };
  const app = async (name: string) => (await runIndex(name, stackConfig(name), undefined, refs)).resources;
  const blog = await app("blog");
  const shop = await app("shop");
  const touched = serverNames(shop);
  const others = { apps: server.resources, blog };
  const out: SharedServerRow[] = [];
  for (const [change, before, after] of [
    ["add an app (shop) to the shared server", [], shop],
    ["remove an app (shop) from the shared server", shop, []],
  ] as const) {
    for (const [stack, resources] of Object.entries(others))
      out.push({
        change,
        stack,
        rows: [],
        updated: false,
        clashes: [...serverNames(resources)].filter((n) => touched.has(n)),
      });
    out.push({ change, stack: "shop", rows: classify([...before], [...after]), updated: true, clashes: [] });
  }
  return out;
}

export const sentinels = (stack: string) =>
  Object.fromEntries((EXAMPLE_SECRETS[stack] ?? []).map((n) => [n, testSecret(`berth:secrets.${n}`)]));

export async function secretsAudit(): Promise<Record<string, AuditResult>> {
  const out: Record<string, AuditResult> = {};
  for (const stack of STACKS) {
    const run = await runIndex(stack, stackConfig(stack));
    out[stack] = audit(run.resources, await resolveMarked(run.exports), sentinels(stack));
  }
  return out;
}
