// The blast radius of a config change: given the resources of two renders of the program (before
// and after the change), what `pulumi up` would create, update, replace or delete.
import { forcesReplacement } from "./replacement";
import { Properties } from "../plan/properties";

/** What the classification needs of a registered resource (the test harness records more). */
export interface RenderedResource {
  type: string;
  name: string;
  urn: string;
  custom: boolean;
  inputs: Properties;
  protect: boolean;
  ignoreChanges: string[];
  replaceOnChanges: string[];
  retainOnDelete: boolean;
  /** For each input, the URNs whose outputs flow into it. */
  propertyDependencies: Record<string, string[]>;
}

export type Outcome = "create" | "update" | "replace" | "delete" | "same";

export interface Classified {
  resource: RenderedResource;
  outcome: Outcome;
  /** Top-level inputs that differ (or become unknown because what they read is replaced). */
  keys: string[];
  /** Holds data or an address users depend on: losing it is never a side effect. */
  stateful: boolean;
  /** Protected, yet the change replaces or deletes it: `pulumi up` would stop with an error. */
  protectedLoss: boolean;
}

/** Hetzner resources that carry data or identity whose loss a user would notice. */
export function isStateful(r: Pick<RenderedResource, "type" | "inputs">): boolean {
  switch (r.type) {
    case "hcloud:index/volume:Volume":
    case "hcloud:index/zone:Zone":
    case "hcloud:index/primaryIp:PrimaryIp":
      return true;
    case "hcloud:index/server:Server":
      return r.inputs.labels?.["berth-stateful"] === "true";
    default:
      return false;
  }
}

/** Every leaf path (`a.b[0].c`) where two values differ. */
export function changedPaths(a: unknown, b: unknown, path = ""): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  const isObj = (v: unknown) => v !== null && typeof v === "object";
  if (Array.isArray(a) && Array.isArray(b)) {
    const out: string[] = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) out.push(...changedPaths(a[i], b[i], `${path}[${i}]`));
    return out;
  }
  if (isObj(a) && isObj(b) && !Array.isArray(a) && !Array.isArray(b)) {
    const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
    const out: string[] = [];
    for (const k of keys)
      out.push(
        ...changedPaths(
          (a as Record<string, unknown>)[k],
          (b as Record<string, unknown>)[k],
          path ? `${path}.${k}` : k,
        ),
      );
    return out;
  }
  return [path];
}

/** Whether a Pulumi property path pattern (`triggers[*]`, `a.b`, `tags["x"]`) covers `path`. */
export function pathMatches(pattern: string, path: string): boolean {
  const norm = (p: string) =>
    p
      .replace(/\["([^"]+)"\]/g, ".$1")
      .replace(/\[(\d+|\*)\]/g, ".$1")
      .split(".")
      .filter(Boolean);
  const pat = norm(pattern);
  const segs = norm(path);
  if (pat.length > segs.length) return false;
  return pat.every((p, i) => p === "*" || p === segs[i]);
}

const topKey = (path: string) => path.split(/[.[]/)[0];

function decide(r: RenderedResource, paths: string[]): { keys: string[]; replace: boolean } {
  const live = paths.filter((p) => !r.ignoreChanges.some((pat) => pathMatches(pat, p)));
  const keys = [...new Set(live.map(topKey))].sort();
  const replace = live.some(
    (p) => forcesReplacement(r.type, topKey(p)) || r.replaceOnChanges.some((pat) => pathMatches(pat, p)),
  );
  return { keys, replace };
}

export interface ClassifyOptions {
  /** Resources replaced whatever their diff (`pulumi up --replace`, or a replacement an earlier update left half done). */
  replace?: Set<string>;
  /** Input paths that change on every run of the program, per resource, though two renders agree. */
  changed?: Map<string, string[]>;
}

/**
 * Classifies every custom resource of both renders. A replaced resource's outputs are unknown
 * during the update, so each input that reads them counts as changed too (and may in turn force a
 * replacement); this runs until nothing more changes. Updates are assumed to keep outputs stable.
 */
export function classify(
  before: RenderedResource[],
  after: RenderedResource[],
  opts: ClassifyOptions = {},
): Classified[] {
  const custom = (rs: RenderedResource[]) => rs.filter((r) => r.custom || r.type.startsWith("pulumi:providers:"));
  const old = new Map(custom(before).map((r) => [r.urn, r]));
  const now = custom(after);
  const direct = new Map<string, string[]>();
  for (const r of now) {
    const prev = old.get(r.urn);
    if (prev) direct.set(r.urn, [...changedPaths(prev.inputs, r.inputs), ...(opts.changed?.get(r.urn) ?? [])]);
  }
  const replaced = new Set<string>();
  const result = new Map<string, Classified>();
  for (let changed = true; changed;) {
    changed = false;
    for (const r of now) {
      const paths = direct.get(r.urn);
      if (!paths) {
        result.set(r.urn, { resource: r, outcome: "create", keys: [], stateful: isStateful(r), protectedLoss: false });
        continue;
      }
      const unknown = Object.entries(r.propertyDependencies)
        .filter(([, urns]) => urns.some((u) => replaced.has(u)))
        .map(([key]) => key);
      const decided = decide(r, [...paths, ...unknown]);
      const keys = decided.keys;
      const replace = decided.replace || !!opts.replace?.has(r.urn);
      const outcome: Outcome = replace ? "replace" : keys.length ? "update" : "same";
      if (replace && !replaced.has(r.urn)) {
        replaced.add(r.urn);
        changed = true;
      }
      const prev = old.get(r.urn)!;
      result.set(r.urn, {
        resource: r,
        outcome,
        keys,
        stateful: isStateful(r) || isStateful(prev),
        protectedLoss: replace && (prev.protect || r.protect),
      });
    }
  }
  const kept = new Set(now.map((r) => r.urn));
  const deleted: Classified[] = custom(before)
    .filter((r) => !kept.has(r.urn))
    .map((r) => ({ resource: r, outcome: "delete", keys: [], stateful: isStateful(r), protectedLoss: r.protect }));
  return [...result.values(), ...deleted];
}

export type Tally = Record<Outcome, number>;

export function tally(rows: Classified[]): Tally {
  const t: Tally = { create: 0, update: 0, replace: 0, delete: 0, same: 0 };
  for (const r of rows) t[r.outcome]++;
  return t;
}

/** The short type name a reader knows: `hcloud:index/server:Server` -> `Server`. */
export function shortType(type: string): string {
  const [pkg, mod, name] = type.split(":");
  if (pkg === "pulumi" && mod === "providers") return `provider:${name}`;
  if (pkg === "command") return `${mod}.${name}`;
  return name ?? type;
}
