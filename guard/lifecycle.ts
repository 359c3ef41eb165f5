// Longer than 400 lines: the engine's step planning and the playing of those steps share one model of state, kept together.
// Sequences of updates, the way Pulumi's engine runs them: from the state an update left and the
// next render of the program, the steps the engine would take (planUpdate), then those steps played
// one by one against a simulated world (applyUpdate), optionally failing at any step, with the
// invariants checked after each: every route kamal-proxy serves on a host in service names a running
// container, no two live objects share a name the cloud or Docker requires unique, nothing stateful
// or protected is replaced or deleted, data directories are on their volume when a container starts,
// and an app starts only with credentials its database accepts. The rules are in guard/engine.ts.
import { Recorded } from "../plan/render";
import { changedPaths, classify, Classified, pathMatches } from "./blast";
import { dockerHost, containerSpec, ContainerSpec, mountPaths } from "./effects";
import { deletesFirst, forcesReplacement } from "./engine";
import * as world from "./world";
import { checkRoutes, emptyWorld, holdsData, StepFailure, Violation, ViolationKind, World } from "./world";
import { Properties } from "../plan/properties";

/** A resource as Pulumi's state holds it, and the object in the world it stands for. */
export interface StateResource extends Recorded {
  instance: number;
  /** The old half of a create-first replacement whose delete did not run. */
  pendingDelete?: boolean;
  /** Deleted by a delete-first replacement whose create did not run: in state, gone from the world. */
  pendingReplacement?: boolean;
}

export type Op =
  "same" | "create" | "update" | "create-replacement" | "delete-replaced" | "delete" | "remove-pending-replace";

export interface Step {
  op: Op;
  urn: string;
  name: string;
  type: string;
  /** What the program registers (same, create, update, create-replacement). */
  goal?: Recorded;
  /** What state holds (update, replacements, deletes). */
  old?: StateResource;
  /** Inputs that changed (update, replacement). */
  keys?: string[];
  /** The engine refuses this step and stops the update here. */
  refuse?: string;
  phase: "program" | "deletes";
}

export const describeStep = (s: Step) => `${s.op} ${s.name}`;

export interface PlanOptions {
  /** `pulumi up --replace`: logical names or URNs replaced whatever their diff. */
  replace?: string[];
  /** Input paths that differ on every run of the program (see volatileInputs). */
  changed?: Map<string, string[]>;
}

const isCustom = (r: { custom: boolean; type: string }) => r.custom || r.type.startsWith("pulumi:providers:");
const providerUrn = (ref: string) => (ref ? ref.replace(/::[^:]*$/, "") : "");
const edges = (r: Recorded) => [...r.dependencies, ...(r.provider ? [providerUrn(r.provider)] : [])];

/** Registration order, made a dependency order where a registration came before its dependency. */
function dependencyOrder<T extends Recorded>(rs: T[]): T[] {
  const byUrn = new Map(rs.map((r) => [r.urn, r]));
  const seen = new Set<string>();
  const out: T[] = [];
  const visit = (r: T) => {
    if (seen.has(r.urn)) return;
    seen.add(r.urn);
    for (const d of edges(r)) {
      const dep = byUrn.get(d);
      if (dep) visit(dep);
    }
    out.push(r);
  };
  rs.forEach(visit);
  return out;
}

/**
 * Pulumi's delete-before-replace cascade: the dependents (in state) that replacing `root` would
 * replace, in dependency order. Resources already handled by this update are left out.
 */
function dependentReplacements(root: StateResource, state: StateResource[], handled: Set<string>): StateResource[] {
  const replaced = new Set([root.urn]);
  const dependents = new Set([root.urn]);
  const out: StateResource[] = [];
  for (const r of state) {
    if (r === root || !edges(r).some((u) => dependents.has(u))) continue;
    dependents.add(r.urn);
    if (!isCustom(r) || handled.has(r.urn)) continue;
    const byProvider = replaced.has(providerUrn(r.provider));
    const byInput = Object.entries(r.propertyDependencies).some(
      ([key, urns]) =>
        urns.some((u) => replaced.has(u)) &&
        !r.ignoreChanges.some((p) => pathMatches(p, key)) &&
        (forcesReplacement(r.type, key) || r.replaceOnChanges.some((p) => pathMatches(p, key))),
    );
    if (byProvider || byInput) {
      replaced.add(r.urn);
      out.push(r);
    }
  }
  return out;
}

/**
 * Pulumi's ScheduleDeletes: rounds of deletions whose condemned dependencies are gone, reversed, so
 * dependents go before what they depend on. Within a round (run in parallel by the engine) the
 * later-registered resource goes first.
 */
function scheduleDeletes(steps: Step[], state: StateResource[]): Step[] {
  const position = new Map(state.map((r, i) => [r, i]));
  let condemned = [...steps];
  const rounds: Step[][] = [];
  while (condemned.length) {
    const urns = new Set(condemned.map((s) => s.urn));
    const round = condemned.filter((s) => !edges(s.old!).some((u) => u !== s.urn && urns.has(u)));
    if (!round.length) throw new Error(`dependency cycle among deletions: ${[...urns].join(", ")}`);
    rounds.push(round.sort((a, b) => position.get(b.old!)! - position.get(a.old!)!));
    condemned = condemned.filter((s) => !round.includes(s));
  }
  return rounds.reverse().flat();
}

/**
 * The state with each resource the program now knows by another URN (found through one of its
 * aliases, as the engine looks them up) under that URN, and every reference to it renamed too.
 */
function renameAliased(state: StateResource[], program: Recorded[]): StateResource[] {
  const held = new Set(state.map((r) => r.urn));
  const renamed = new Map<string, string>();
  for (const r of program) {
    if (held.has(r.urn)) continue;
    const old = r.aliases.find((a) => held.has(a) && !renamed.has(a));
    if (old) renamed.set(old, r.urn);
  }
  if (renamed.size === 0) return [...state];
  const to = (urn: string) => renamed.get(urn) ?? urn;
  return state.map((r) => ({
    ...r,
    urn: to(r.urn),
    parent: to(r.parent),
    deletedWith: to(r.deletedWith),
    dependencies: r.dependencies.map(to),
    propertyDependencies: Object.fromEntries(
      Object.entries(r.propertyDependencies).map(([k, urns]) => [k, urns.map(to)]),
    ),
  }));
}

/** The steps `pulumi up` would run to take `state` to what `program` registers. */
export function planUpdate(olds: StateResource[], program: Recorded[], opts: PlanOptions = {}): Step[] {
  const state = renameAliased(olds, program);
  const live = new Map<string, StateResource>();
  for (const r of state) if (!r.pendingDelete && isCustom(r)) live.set(r.urn, r);
  const wanted = new Set(opts.replace ?? []);
  const replace = new Set(
    [...program.filter((r) => wanted.has(r.name) || wanted.has(r.urn)).map((r) => r.urn)].concat(
      [...live.values()].filter((r) => r.pendingReplacement).map((r) => r.urn),
    ),
  );
  const unknown = [...wanted].filter((w) => !program.some((r) => r.name === w || r.urn === w));
  if (unknown.length) throw new Error(`--replace names no resource of the program: ${unknown.join(", ")}`);
  const rows = new Map<string, Classified>(
    classify([...live.values()], program, { replace, changed: opts.changed }).map((c) => [c.resource.urn, c]),
  );

  const steps: Step[] = [];
  const deferred: Step[] = [];
  const handled = new Set<string>();
  const deletedEarly = new Set<StateResource>();
  for (const goal of dependencyOrder(program.filter(isCustom))) {
    const row = rows.get(goal.urn)!;
    const old = live.get(goal.urn);
    const base = { urn: goal.urn, name: goal.name, type: goal.type, goal, phase: "program" as const };
    handled.add(goal.urn);
    if (!old || row.outcome === "create") {
      steps.push({ ...base, op: "create" });
      continue;
    }
    if (row.outcome === "same" || row.outcome === "update") {
      steps.push({ ...base, op: row.outcome, old, keys: row.keys });
      continue;
    }
    const refuse =
      old.protect && goal.protect
        ? `${goal.name}: protected, so the engine refuses to replace it (lift the protection to replace it on purpose)`
        : undefined;
    if (refuse || deletedEarly.has(old) || old.pendingReplacement) {
      steps.push({ ...base, op: "create-replacement", old, keys: row.keys, refuse });
      continue;
    }
    if (deletesFirst(goal)) {
      const cascade = dependentReplacements(old, state, handled).reverse();
      for (const d of cascade) {
        deletedEarly.add(d);
        const guard = d.protect
          ? `${d.name}: protected, so the engine refuses to replace it with ${goal.name}`
          : undefined;
        steps.push({
          op: "delete-replaced",
          urn: d.urn,
          name: d.name,
          type: d.type,
          old: d,
          refuse: guard,
          phase: "program",
        });
      }
      steps.push({ ...base, goal: undefined, op: "delete-replaced", old, keys: row.keys, refuse });
      steps.push({ ...base, op: "create-replacement", old, keys: row.keys });
      continue;
    }
    steps.push({ ...base, op: "create-replacement", old, keys: row.keys, refuse });
    deferred.push({ op: "delete-replaced", urn: old.urn, name: old.name, type: old.type, old, phase: "deletes" });
  }
  for (const r of state) {
    if (!isCustom(r) || deletedEarly.has(r)) continue;
    const pending = r.pendingDelete;
    const left = !pending && !handled.has(r.urn);
    if (!pending && !left) continue;
    const op: Op = pending ? "delete-replaced" : r.pendingReplacement ? "remove-pending-replace" : "delete";
    deferred.push({ op, urn: r.urn, name: r.name, type: r.type, old: r, phase: "deletes" });
  }
  return [...steps, ...scheduleDeletes(deferred, state)];
}

/** Sets each ignored input back to its value in state (the engine's processIgnoreChanges). */
function withIgnored(goal: Recorded, old?: StateResource): Properties {
  if (!old || !goal.ignoreChanges.length) return goal.inputs;
  const inputs = structuredClone(goal.inputs);
  for (const path of goal.ignoreChanges) {
    const segs = path.replace(/\[(\d+)\]/g, ".$1").split(".");
    let from: Properties | undefined = old.inputs;
    let to: Properties | undefined = inputs;
    for (const seg of segs.slice(0, -1)) {
      from = from?.[seg];
      to = to?.[seg];
    }
    const last = segs[segs.length - 1];
    if (from && to && typeof to === "object") {
      if (last in from) to[last] = structuredClone(from[last]);
      else delete to[last];
    }
  }
  return inputs;
}

export interface UpdateOptions {
  /** Fails the step with this reason (an injected failure: a health check, a hook, an interruption). */
  fail?: (step: Step, index: number) => string | undefined;
  /** Resources whose replacement or deletion the update is about (say, a server replaced on purpose). */
  intended?: (urn: string) => boolean;
}

export interface UpdateResult {
  stack: string;
  steps: Step[];
  /** What Pulumi's state holds afterwards. */
  state: StateResource[];
  /** The step that failed, and why; none when the update succeeded. */
  failed?: { index: number; step: Step; reason: string };
  violations: Violation[];
}

/**
 * Plays `steps` against `w` (changed in place), as the stack's update. Steps before a failure took
 * effect and stay in the returned state; the failed step and everything after it did not.
 */
export function applyUpdate(
  w: World,
  stack: string,
  initial: StateResource[],
  program: Recorded[],
  steps: Step[],
  opts: UpdateOptions = {},
): UpdateResult {
  const state = renameAliased(initial, program);
  const violations: Violation[] = [];
  let at = -1;
  const liveEntry = (urn: string) => {
    for (let i = state.length - 1; i >= 0; i--) if (state[i].urn === urn && !state[i].pendingDelete) return state[i];
    return undefined;
  };
  const declaredMounts = new Map<string, string[]>();
  for (const r of program)
    if (r.type === "command:remote:Command" && typeof r.inputs.create === "string") {
      const paths = mountPaths(r.inputs.create, r.name);
      const host = String(r.inputs.connection?.host ?? "");
      if (paths.length) declaredMounts.set(host, [...(declaredMounts.get(host) ?? []), ...paths]);
    }
  const goalContainers = new Map<string, ContainerSpec>();
  for (const r of program) {
    if (r.type !== "docker:index/container:Container") continue;
    const provider = program.find((p) => p.urn === providerUrn(r.provider));
    const host = provider && dockerHost(provider.inputs);
    if (host) goalContainers.set(`${host.address}/${r.inputs.name}`, containerSpec(r.inputs));
  }
  const ctx: world.Context = {
    stack,
    instanceOf: (urn) => {
      const e = liveEntry(urn);
      return e && !e.pendingReplacement ? e.instance : undefined;
    },
    entryOf: (urn) => liveEntry(urn),
    declaredMounts,
    goalContainer: (address, name) => goalContainers.get(`${address}/${name}`),
    violation: (kind: ViolationKind, message: string, extra = {}) =>
      violations.push({ kind, message, step: at, ...extra }),
  };
  const leaving = new Set(
    steps
      .filter((s) => s.type === "hcloud:index/server:Server" && s.old && s.op !== "same" && s.op !== "update")
      .map((s) => s.old!.instance),
  );
  const subject = (r: Recorded, inputs: Properties): world.Subject => ({
    urn: r.urn,
    type: r.type,
    name: r.name,
    inputs,
    propertyDependencies: r.propertyDependencies,
    dependencies: r.dependencies,
    provider: r.provider,
  });
  const lost = (s: Step) => {
    if (s.old && holdsData(s.old) && !opts.intended?.(s.urn))
      ctx.violation("stateful", `${s.op} ${s.name}: ${s.old.protect ? "protected" : "holds data"} and would be lost`);
  };

  for (let i = 0; i < steps.length; i++) {
    const s = steps[i];
    at = i;
    const injected = opts.fail?.(s, i);
    try {
      if (injected) throw new StepFailure(injected);
      if (s.refuse) {
        lost(s);
        throw new StepFailure(s.refuse, "stateful");
      }
      switch (s.op) {
        case "same": {
          const e = liveEntry(s.urn)!;
          state[state.indexOf(e)] = { ...s.goal!, inputs: withIgnored(s.goal!, e), instance: e.instance };
          break;
        }
        case "create": {
          const inputs = s.goal!.inputs;
          const id = world.create(w, ctx, subject(s.goal!, inputs));
          state.push({ ...s.goal!, inputs, instance: id });
          break;
        }
        case "update": {
          const e = liveEntry(s.urn)!;
          const inputs = withIgnored(s.goal!, e);
          world.update(w, ctx, subject(s.goal!, inputs), e.instance);
          state[state.indexOf(e)] = { ...s.goal!, inputs, instance: e.instance };
          break;
        }
        case "create-replacement": {
          const e = liveEntry(s.urn)!;
          if (!e.pendingReplacement) lost(s);
          // A replacement is created from the program's inputs: ignoreChanges does not apply.
          const inputs = s.goal!.inputs;
          const id = world.create(w, ctx, subject(s.goal!, inputs));
          const next: StateResource = { ...s.goal!, inputs, instance: id };
          if (e.pendingReplacement) state[state.indexOf(e)] = next;
          else {
            state[state.indexOf(e)] = { ...e, pendingDelete: true };
            state.push(next);
          }
          break;
        }
        case "delete-replaced":
        case "delete": {
          const e = state.find((r) => r.urn === s.urn && r.instance === s.old!.instance)!;
          if (s.op === "delete" || s.phase === "program") lost(s);
          if (s.op === "delete" && e.protect)
            throw new StepFailure(`${s.name}: protected, so deleting it fails`, "stateful");
          if (!e.retainOnDelete) world.remove(w, ctx, subject(e, e.inputs), e.instance);
          if (s.phase === "program") state[state.indexOf(e)] = { ...e, pendingReplacement: true };
          else state.splice(state.indexOf(e), 1);
          break;
        }
        case "remove-pending-replace":
          state.splice(state.indexOf(state.find((r) => r.urn === s.urn && r.pendingReplacement)!), 1);
          break;
      }
    } catch (err) {
      if (!(err instanceof StepFailure)) throw err;
      return { stack, steps, state, failed: { index: i, step: s, reason: err.message }, violations };
    }
    checkRoutes(w, ctx, leaving);
  }
  return { stack, steps, state, violations };
}

/** Plans and plays one update. */
export function update(
  w: World,
  stack: string,
  state: StateResource[],
  program: Recorded[],
  opts: PlanOptions & UpdateOptions = {},
): UpdateResult {
  return applyUpdate(w, stack, state, program, planUpdate(state, program, opts), opts);
}

/**
 * Input paths that differ between two renders of the same configuration: values the program
 * computes anew on every run (a timestamp, a random trigger), which change on every real update.
 */
export function volatileInputs(a: Recorded[], b: Recorded[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const other = new Map(b.map((r) => [r.urn, r]));
  for (const r of a) {
    const o = other.get(r.urn);
    const paths = o ? changedPaths(o.inputs, r.inputs) : [];
    if (paths.length) out.set(r.urn, paths);
  }
  return out;
}

export interface Outage {
  host: string;
  service: string;
  /** Step indexes: the first after which it was seen, and the step that ended it (or none). */
  from: number;
  until?: number;
  why: string;
}

/** Downtime violations grouped into intervals per host and service. */
export function outages(result: UpdateResult): Outage[] {
  const byKey = new Map<string, Violation[]>();
  for (const v of result.violations.filter((x) => x.kind === "downtime")) {
    const key = `${v.host}\u0000${v.service}`;
    byKey.set(key, [...(byKey.get(key) ?? []), v]);
  }
  const out: Outage[] = [];
  for (const vs of byKey.values()) {
    let start = vs[0];
    let last = vs[0].step;
    const close = (until?: number) =>
      out.push({ host: start.host!, service: start.service!, from: start.step, until, why: start.message });
    for (const v of vs.slice(1)) {
      if (v.step <= last + 1) {
        last = v.step;
        continue;
      }
      close(last + 1);
      start = v;
      last = v.step;
    }
    const ended = result.failed ? undefined : last + 1 < result.steps.length ? last + 1 : undefined;
    close(ended);
  }
  return out.sort((a, b) => a.from - b.from);
}

/** Violations other than downtime, and downtime intervals, in words. */
export function describeProblems(result: UpdateResult): string[] {
  const lines = outages(result).map(
    (o) =>
      `downtime: ${o.why} — from step ${o.from} (${describeStep(result.steps[o.from])}) ${o.until === undefined ? "to the end" : `until step ${o.until} (${describeStep(result.steps[o.until])})`}`,
  );
  for (const v of result.violations.filter((x) => x.kind !== "downtime"))
    lines.push(`${v.kind}: ${v.message} (step ${v.step}, ${describeStep(result.steps[v.step])})`);
  if (result.failed)
    lines.push(`failed at step ${result.failed.index} (${describeStep(result.failed.step)}): ${result.failed.reason}`);
  return lines;
}

/** Resources of a stack state by logical name, for assertions. */
export const stateNames = (state: StateResource[]) =>
  state.map((r) => `${r.name}${r.pendingDelete ? " (pending delete)" : ""}`);

export type { Violation, World };
export { cloneWorld } from "./world";
export { emptyWorld };

/** What kamal-proxy serves on each live machine: host, service, target, and whether the target runs. */
export function served(w: World): { host: string; service: string; target: string; running: boolean }[] {
  const out: { host: string; service: string; target: string; running: boolean }[] = [];
  for (const m of w.machines.values()) {
    if (!m.alive) continue;
    for (const [service, target] of m.routes)
      out.push({ host: m.label, service, target, running: m.containers.has(target) });
  }
  return out.sort((a, b) => `${a.host}/${a.service}`.localeCompare(`${b.host}/${b.service}`));
}

export interface Downtime {
  outages: Outage[];
  /** Apps started with credentials their database rejects. */
  database: Violation[];
  failed?: UpdateResult["failed"];
  steps: Step[];
}

/**
 * What users would notice of a change: the first deploy of `before` is played on an empty project,
 * then the update to `after`; which host serves which service from no running container, between
 * which steps, or where the update fails.
 */
export function downtime(stack: string, before: Recorded[], after: Recorded[]): Downtime {
  const w = emptyWorld();
  const first = update(w, stack, [], before);
  const problems = describeProblems(first);
  if (problems.length) throw new Error(`the first deploy of ${stack} is not clean: ${problems.join("; ")}`);
  const r = update(w, stack, first.state, after);
  return {
    outages: outages(r),
    database: r.violations.filter((v) => v.kind === "database"),
    failed: r.failed,
    steps: r.steps,
  };
}
