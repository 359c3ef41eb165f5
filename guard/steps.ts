// Counts the remote steps a deploy runs on each host, from two renders of the program: the
// resources whose inputs change between them are what `pulumi up` creates or updates.
import * as fs from "node:fs";
import * as path from "node:path";
import { runIndex } from "../plan/examples";
import { diffRenders, Recorded } from "../plan/render";
import { generatedStack } from "../plan/stacks";

/** Resources that run something on a host: remote commands and docker resources. */
export function isRemoteStep(r: Recorded): boolean {
  return r.custom && (r.type.startsWith("command:remote:") || r.type.startsWith("docker:"));
}

export interface HostSteps {
  /** Every remote step the deploy runs on the host. */
  steps: string[];
  /** The resource type of each step. */
  types: string[];
  /** The longest chain of steps on the host that wait for one another, in order. */
  chain: string[];
}

/** URNs a resource depends on, directly or through other resources, within one render. */
export function transitiveDependencies(resources: Recorded[], start: Recorded): Set<string> {
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const seen = new Set<string>();
  const queue = [...start.dependencies];
  while (queue.length) {
    const urn = queue.pop()!;
    if (seen.has(urn)) continue;
    seen.add(urn);
    const r = byUrn.get(urn);
    if (r) queue.push(...r.dependencies);
  }
  return seen;
}

/** A registry pull (or, on rollback, a local image lookup): the docker provider's RemoteImage. */
export const isPull = (r: Recorded) => r.type === "docker:index/remoteImage:RemoteImage";

export interface DeployPath {
  created: number;
  changed: number;
  deleted: number;
  hosts: Record<string, HostSteps>;
  /** Longest chain over all hosts: remote steps that wait for one another, across hosts too. */
  critical: string[];
  /** Image pulls on the critical path. */
  criticalPulls: number;
  /**
   * Hosts in the order they boot: a host waits for every host of an earlier wave. Steps that wait
   * for nothing (pulls, backups) run first, on every host at once, and order no host.
   */
  waves: string[][];
}

const providerUrn = (ref: string) => ref.slice(0, ref.lastIndexOf("::"));

/** The host a remote step runs on: through its docker provider, or its SSH connection. */
function hostResolver(resources: Recorded[]): (r: Recorded) => string | undefined {
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const hostOf = (r: Recorded | undefined): string | undefined => {
    for (let cur = r; cur; cur = byUrn.get(cur.parent)) if (cur.type === "berth:host:Host") return cur.name;
    return undefined;
  };
  // A host's own commands (its readiness gate) tell which address is which host.
  const byAddress = new Map<string, string>();
  for (const r of resources) {
    const host = r.type === "command:remote:Command" ? hostOf(r) : undefined;
    if (host && r.inputs.connection?.host) byAddress.set(r.inputs.connection.host, host);
  }
  return (r) => {
    if (r.type.startsWith("docker:")) return hostOf(byUrn.get(providerUrn(r.provider)));
    // The host whose address the connection reads (its server or primary IP); the address alone
    // can be ambiguous in a render, where mocked addresses of many hosts may coincide.
    for (const urn of r.propertyDependencies.connection ?? []) {
      const host = hostOf(byUrn.get(urn));
      if (host) return host;
    }
    return byAddress.get(r.inputs.connection?.host);
  };
}

/** The longest path through `nodes`, where `before(a, b)` says b waits for a. */
function longestChain(nodes: Recorded[], waitsFor: Map<string, Set<string>>): Recorded[] {
  const memo = new Map<string, Recorded[]>();
  const byUrn = new Map(nodes.map((n) => [n.urn, n]));
  const chainTo = (n: Recorded): Recorded[] => {
    const known = memo.get(n.urn);
    if (known) return known;
    let best: Recorded[] = [];
    for (const dep of waitsFor.get(n.urn) ?? []) {
      const d = byUrn.get(dep);
      if (!d) continue;
      const c = chainTo(d);
      if (c.length > best.length) best = c;
    }
    const chain = [...best, n];
    memo.set(n.urn, chain);
    return chain;
  };
  return nodes.map(chainTo).reduce<Recorded[]>((a, b) => (b.length > a.length ? b : a), []);
}

/** The remote steps per host of going from render `before` to render `after`, and how they chain. */
export function deployPath(before: Recorded[], after: Recorded[]): DeployPath {
  const diff = diffRenders(before, after);
  const steps = [...diff.created, ...diff.changed].filter(isRemoteStep);
  const hostOf = hostResolver(after);
  const stepUrns = new Set(steps.map((s) => s.urn));
  const waitsFor = new Map(
    steps.map((s) => [s.urn, new Set([...transitiveDependencies(after, s)].filter((u) => stepUrns.has(u)))]),
  );

  const hosts: Record<string, HostSteps> = {};
  const onHost = new Map<string, Recorded[]>();
  for (const s of steps) {
    const host = hostOf(s);
    if (!host) throw new Error(`${s.type} ${s.name}: cannot tell which host it runs on`);
    onHost.set(host, [...(onHost.get(host) ?? []), s]);
  }
  for (const [host, list] of [...onHost].sort(([a], [b]) => a.localeCompare(b))) {
    const own = new Set(list.map((s) => s.urn));
    const local = new Map(list.map((s) => [s.urn, new Set([...waitsFor.get(s.urn)!].filter((u) => own.has(u)))]));
    hosts[host] = {
      steps: list.map((s) => s.name),
      types: list.map((s) => s.type),
      chain: longestChain(list, local).map((s) => s.name),
    };
  }

  // Host-level ordering: a host waits for another when one of its steps waits for one of theirs,
  // except the steps that wait for no other (pulls, backups): they all run first, at once, and
  // the first boot group waiting for them orders no host before another.
  const byUrn = new Map(steps.map((s) => [s.urn, s]));
  const first = (s: Recorded) => waitsFor.get(s.urn)!.size === 0;
  const hostWaits = new Map<string, Set<string>>();
  for (const s of steps) {
    const h = hostOf(s)!;
    const set = hostWaits.get(h) ?? new Set<string>();
    for (const u of waitsFor.get(s.urn)!) {
      const dep = byUrn.get(u)!;
      const other = hostOf(dep)!;
      if (other !== h && !first(dep)) set.add(other);
    }
    hostWaits.set(h, set);
  }
  const wave = new Map<string, number>();
  const visiting = new Set<string>();
  const waveOf = (h: string): number => {
    if (!wave.has(h)) {
      if (visiting.has(h)) throw new Error(`hosts wait for each other: ${[...visiting, h].join(" -> ")}`);
      visiting.add(h);
      wave.set(h, Math.max(-1, ...[...(hostWaits.get(h) ?? [])].map(waveOf)) + 1);
      visiting.delete(h);
    }
    return wave.get(h)!;
  };
  const waves: string[][] = [];
  for (const h of Object.keys(hosts)) (waves[waveOf(h)] ??= []).push(h);

  const critical = longestChain(steps, waitsFor);
  return {
    created: diff.created.length,
    changed: diff.changed.length,
    deleted: diff.deleted.length,
    hosts,
    critical: critical.map((s) => s.name),
    criticalPulls: critical.filter(isPull).length,
    waves,
  };
}

/** The most dependent remote steps any one host goes through. */
export const maxStepsPerHost = (p: DeployPath) => Math.max(0, ...Object.values(p.hosts).map((h) => h.chain.length));

/**
 * What a host's steps cost in SSH: pulumi-command opens one SSH session per remote command and
 * runs one command line in it; the docker provider reaches a host through one SSH session
 * (`docker system dial-stdio`) for all its API calls, one call per step here.
 */
export function remoteWork(h: HostSteps): { sessions: number; commands: number } {
  const commands = h.types.filter((t) => t.startsWith("command:remote:")).length;
  const docker = h.types.filter((t) => t.startsWith("docker:")).length;
  return { sessions: commands + (docker > 0 ? 1 : 0), commands: commands + docker };
}

const bump = (c: Record<string, unknown>) => (c["berth:version"] = "2026.11.2");

/** A version bump of a generated stack of `hosts` hosts, booting `limit` hosts at a time. */
export async function bumpPath(hosts: number, limit: number | string): Promise<DeployPath> {
  const boot = (c: Record<string, unknown>) => (c["berth:boot"] = { limit, wait: 2 });
  const before = (await runIndex("production", generatedStack(hosts, boot))).resources;
  const after = (
    await runIndex(
      "production",
      generatedStack(hosts, (c) => (boot(c), bump(c))),
    )
  ).resources;
  return deployPath(before, after);
}

export interface PathRow {
  hosts: number;
  limit: number | string;
  groups: number;
  pulls: number;
  critical: number;
}

export async function pathRow(hosts: number, limit: number | string): Promise<PathRow> {
  const p = await bumpPath(hosts, limit);
  return { hosts, limit, groups: p.waves.length, pulls: p.criticalPulls, critical: p.critical.length };
}

/** The rows of the table in docs/performance.md, as Markdown. */
export function pathTable(rows: PathRow[]): string {
  const lines = [
    "| hosts | `boot.limit` | boot groups | pulls on the critical path | critical path (remote steps) |",
    "| ----- | ------------ | ----------- | -------------------------- | ---------------------------- |",
    ...rows.map((r) => `| ${r.hosts} | ${r.limit} | ${r.groups} | ${r.pulls} | ${r.critical} |`),
  ];
  return `${lines.join("\n")}\n`;
}

export const TABLE_START = "<!-- deploy path table: npx tsx scripts/bench/steps.ts --write -->\n";
export const TABLE_END = "<!-- end of deploy path table -->\n";
export const DOCS = path.join(__dirname, "..", "docs", "performance.md");

/** The table as docs/performance.md holds it now. */
export function documentedTable(): string {
  const text = fs.readFileSync(DOCS, "utf8");
  const start = text.indexOf(TABLE_START);
  const end = text.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`${DOCS}: no deploy path table between its markers`);
  return text.slice(start + TABLE_START.length, end);
}

/** A table's data rows as cell lists joined by `|`, whatever the column padding (prettier aligns them). */
export function tableRows(table: string): string[] {
  return table
    .split("\n")
    .filter((l) => l.startsWith("|") && !/^\|\s*-/.test(l))
    .slice(1)
    .map((l) =>
      l
        .split("|")
        .slice(1, -1)
        .map((c) => c.trim())
        .join("|"),
    );
}
