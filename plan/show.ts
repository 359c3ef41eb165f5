// Turns an offline render into what `berth plan` prints: a resource tree or JSON, secrets
// masked, and the comparison of two renders.
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { diffRenders, Recorded, UNKNOWN } from "./render";

export const MASK = "[secret]";

/** How the plan shows a value the provider computes when it creates a resource. */
export const UNKNOWN_MARK = "[unknown until deployed]";

export const PLAN_NOTE =
  "Offline render under Pulumi's mock runtime: what the program declares, not what will change. " +
  "The real change set comes from `pulumi preview`, which compares against the stack's state.";

/** Inputs as sent to the engine, with every value Pulumi marks secret replaced by [secret]. */
export function masked(value: unknown): unknown {
  if (value === UNKNOWN) return UNKNOWN_MARK;
  if (Array.isArray(value)) return value.map(masked);
  if (value && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    if (obj[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig) return MASK;
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, masked(v)]));
  }
  return value;
}

export interface PlannedResource {
  urn: string;
  type: string;
  name: string;
  parent: string;
  inputs: Record<string, unknown>;
  options: Record<string, unknown>;
  dependencies: string[];
}

function options(r: Recorded): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (r.protect) out.protect = true;
  if (r.retainOnDelete) out.retainOnDelete = true;
  if (r.deleteBeforeReplace) out.deleteBeforeReplace = true;
  if (r.ignoreChanges.length) out.ignoreChanges = r.ignoreChanges;
  if (r.replaceOnChanges.length) out.replaceOnChanges = r.replaceOnChanges;
  return out;
}

/** The render as plain data, sorted by URN so two renders of one program are equal text. */
export function planResources(resources: Recorded[]): PlannedResource[] {
  return resources
    .filter((r) => r.type !== "pulumi:pulumi:Stack")
    .map((r) => ({
      urn: r.urn,
      type: r.type,
      name: r.name,
      parent: r.parent,
      inputs: masked(r.raw) as Record<string, unknown>,
      options: options(r),
      dependencies: [...r.dependencies].sort(),
    }))
    .sort((a, b) => (a.urn < b.urn ? -1 : a.urn > b.urn ? 1 : 0));
}

/**
 * One input value on one line: scripts and long documents shortened to a size and a hash, or
 * with `full` printed whole, each line indented by `pad`.
 */
export function summarize(value: unknown, full = false, pad = ""): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  if (text === undefined) return "undefined";
  if (full && typeof value === "string" && text.includes("\n"))
    return `|\n${text
      .replace(/\n$/, "")
      .split("\n")
      .map((l) => `${pad}  ${l}`)
      .join("\n")}`;
  if (full && typeof value !== "string" && text.length > 160)
    return `\n${JSON.stringify(value, null, 2)
      .split("\n")
      .map((l) => `${pad}  ${l}`)
      .join("\n")}`;
  if (!full && (text.includes("\n") || text.length > 160)) {
    const hash = createHash("sha256").update(text).digest("hex").slice(0, 12);
    const lines = text.split("\n").length;
    return `<${lines > 1 ? `${lines} lines, ` : ""}${text.length} chars, sha256 ${hash}>`;
  }
  return typeof value === "string" && value !== MASK && value !== UNKNOWN_MARK ? JSON.stringify(value) : text;
}

const label = (r: PlannedResource) => `${r.type} ${r.name}`;

function optionText(r: PlannedResource): string {
  const parts = Object.entries(r.options).map(([k, v]) => (v === true ? k : `${k}=${(v as string[]).join(",")}`));
  return parts.length ? `  [${parts.join("; ")}]` : "";
}

/** The readable tree: components with their children, each custom resource with its inputs. */
export function planText(stack: string, resources: PlannedResource[], full = false): string {
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const children = new Map<string, PlannedResource[]>();
  const roots: PlannedResource[] = [];
  for (const r of resources) {
    if (byUrn.has(r.parent)) children.set(r.parent, [...(children.get(r.parent) ?? []), r]);
    else roots.push(r);
  }
  const lines = [`berth plan: stack ${stack}, ${resources.length} resources`, PLAN_NOTE, ""];
  const walk = (r: PlannedResource, depth: number) => {
    const pad = "  ".repeat(depth);
    lines.push(`${pad}${label(r)}${optionText(r)}`);
    for (const [k, v] of Object.entries(r.inputs)) {
      const text = summarize(v, full, `${pad}    `);
      lines.push(`${pad}    ${k}:${text.startsWith("\n") ? "" : " "}${text}`);
    }
    for (const c of children.get(r.urn) ?? []) walk(c, depth + 1);
  };
  roots.forEach((r) => walk(r, 0));
  return lines.join("\n") + "\n";
}

export interface ChangedInput {
  before: unknown;
  after: unknown;
  /** For an input unknown in both renders: the resources this update creates that it is computed from. */
  from?: string[];
}

export interface PlanDiff {
  created: PlannedResource[];
  deleted: PlannedResource[];
  changed: { resource: PlannedResource; inputs: Record<string, ChangedInput> }[];
  unchanged: number;
}

const holdsUnknown = (value: unknown): boolean => JSON.stringify(value ?? null).includes(JSON.stringify(UNKNOWN));

/**
 * Inputs equal in both renders only because both are unknown, yet computed from a resource this
 * update creates (a new container's id in the route step's script): the stack's state holds the
 * old value and a preview shows the new one unknown, so Pulumi updates the resource.
 */
function unknownFromCreated(r: Recorded, created: Map<string, Recorded>): Record<string, ChangedInput> {
  const inputs: Record<string, ChangedInput> = {};
  for (const [key, urns] of Object.entries(r.propertyDependencies)) {
    const from = urns.flatMap((u) => {
      const c = created.get(u);
      return c ? [`${c.type} ${c.name}`] : [];
    });
    if (from.length && holdsUnknown(r.raw[key])) inputs[key] = { before: UNKNOWN_MARK, after: UNKNOWN_MARK, from };
  }
  return inputs;
}

export function planDiff(before: Recorded[], after: Recorded[]): PlanDiff {
  const d = diffRenders(before, after);
  const plain = (rs: Recorded[]) => planResources(rs);
  const old = new Map(planResources(before).map((r) => [r.urn, r]));
  const created = new Map(d.created.map((r) => [r.urn, r]));
  const changed = plain(d.changed).map((resource) => {
    const prev = old.get(resource.urn)!;
    const inputs: Record<string, ChangedInput> = {};
    for (const key of [...new Set([...Object.keys(prev.inputs), ...Object.keys(resource.inputs)])].sort()) {
      const a = JSON.stringify(prev.inputs[key]);
      const b = JSON.stringify(resource.inputs[key]);
      if (a !== b) inputs[key] = { before: prev.inputs[key], after: resource.inputs[key] };
    }
    return { resource, inputs };
  });
  let unchanged = 0;
  for (const r of d.same) {
    const inputs = unknownFromCreated(r, created);
    if (Object.keys(inputs).length) changed.push({ resource: plain([r])[0], inputs });
    else unchanged++;
  }
  changed.sort((a, b) => (a.resource.urn < b.resource.urn ? -1 : a.resource.urn > b.resource.urn ? 1 : 0));
  return { created: plain(d.created), deleted: plain(d.deleted), changed, unchanged };
}

export function diffText(stack: string, ref: string, d: PlanDiff): string {
  const lines = [
    `berth plan --diff ${ref}: stack ${stack}, render at ${ref} -> render of the working tree`,
    PLAN_NOTE,
    "",
  ];
  for (const r of d.created) lines.push(`+ ${label(r)}`);
  for (const r of d.deleted) lines.push(`- ${label(r)}`);
  for (const c of d.changed) {
    lines.push(`~ ${label(c.resource)}`);
    if (!Object.keys(c.inputs).length) lines.push(`    ${MASK} (only secret values changed)`);
    for (const [k, v] of Object.entries(c.inputs)) {
      // A secret that changed shows only that it changed.
      const secret = v.before === MASK || v.after === MASK;
      if (v.from)
        lines.push(`    ${k}: ${UNKNOWN_MARK}, computed from ${v.from.join(", ")}, which this update creates`);
      else lines.push(`    ${k}: ${secret ? MASK : `${summarize(v.before)} -> ${summarize(v.after)}`}`);
    }
  }
  if (!d.created.length && !d.deleted.length && !d.changed.length) lines.push("No differences.");
  lines.push(
    "",
    `${d.created.length} to create, ${d.deleted.length} to delete, ${d.changed.length} to change, ${d.unchanged} unchanged.`,
  );
  return lines.join("\n") + "\n";
}
