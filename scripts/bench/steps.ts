// Counts the remote steps a deploy runs on each host, from two renders of the program: the
// resources whose inputs change between them are what `pulumi up` creates or updates.
import { diffRenders, Recorded, transitiveDependencies } from "../../test/harness";

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

export interface DeployPath {
  created: number;
  changed: number;
  deleted: number;
  hosts: Record<string, HostSteps>;
  /** Longest chain over all hosts: remote steps that wait for one another, across hosts too. */
  critical: string[];
  /** Hosts in the order they can start: a host waits for every host of an earlier wave. */
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

  // Host-level ordering: a host waits for another when one of its steps waits for one of theirs.
  const hostWaits = new Map<string, Set<string>>();
  for (const s of steps) {
    const h = hostOf(s)!;
    const set = hostWaits.get(h) ?? new Set<string>();
    for (const u of waitsFor.get(s.urn)!) {
      const other = hostOf(steps.find((x) => x.urn === u)!)!;
      if (other !== h) set.add(other);
    }
    hostWaits.set(h, set);
  }
  const wave = new Map<string, number>();
  const waveOf = (h: string): number => {
    if (!wave.has(h)) wave.set(h, Math.max(-1, ...[...(hostWaits.get(h) ?? [])].map(waveOf)) + 1);
    return wave.get(h)!;
  };
  const waves: string[][] = [];
  for (const h of Object.keys(hosts)) (waves[waveOf(h)] ??= []).push(h);

  return {
    created: diff.created.length,
    changed: diff.changed.length,
    deleted: diff.deleted.length,
    hosts,
    critical: longestChain(steps, waitsFor).map((s) => s.name),
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
