// What Kamal 2 runs on the hosts for `kamal deploy` and `kamal rollback`, in the units the bench
// counts berth's steps in: remote commands per host, and the dependent ones on the critical path.
// Counted from basecamp/kamal's source at eee0083b3866 (lib/kamal/cli/main.rb deploy and rollback, cli/build.rb
// pull, cli/base.rb with_lock, cli/proxy.rb boot, cli/app.rb boot and stale_containers,
// cli/app/boot.rb, cli/app/assets.rb, cli/prune.rb, configuration/boot.rb): every `execute`,
// `capture_with_info` and `upload!` that runs on a host is one remote command, over the one SSH
// connection SSHKit keeps per host. Each `on(hosts)` block runs on all its hosts at once and
// waits for all of them before the next; the boot runs group after group (`boot.limit`), and
// on a host its roles one after another. Counted for a registry that is not local, assets on
// the proxied roles, a previous version running, no mirror, error pages or custom certificate.

/** One phase of a Kamal command: what it runs on each host, per role where the role matters. */
interface Phase {
  name: string;
  /** Remote commands on one host, given whether each of its roles runs kamal-proxy. */
  perHost: (roles: boolean[]) => number;
  /** "all": every host at once; "primary": the primary host only; "boot": group after group. */
  runs: "all" | "primary" | "boot";
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const anyProxy = (roles: boolean[]) => roles.some((p) => p);

const DEPLOY: Phase[] = [
  // build pull: registry login, the first-mirror lookup, then audit line, image clean, pull, label check.
  { name: "pull", perHost: () => 6, runs: "all" },
  // with_lock: the run directory on every host, the lock on the primary.
  { name: "lock", perHost: () => 1, runs: "all" },
  { name: "lock acquire", perHost: () => 1, runs: "primary" },
  // proxy boot: the network on every host; on proxy hosts login, version, config directory, start.
  { name: "proxy", perHost: (r) => 1 + (anyProxy(r) ? 4 : 0), runs: "all" },
  // stale containers: list versions and the running one, per role.
  { name: "stale containers", perHost: (r) => 2 * r.length, runs: "all" },
  // assets of the proxied roles: extract, running version, sync the asset volumes.
  { name: "assets", perHost: (r) => 3 * r.filter((p) => p).length, runs: "all" },
  // boot per role: clash check, running version, audit, env directory, secrets upload, docker run,
  // then container id and kamal-proxy deploy (proxied) or at least one health poll; stop the old
  // version, and its assets' clean-up on a proxied role.
  { name: "boot", perHost: (r) => sum(r.map((p) => (p ? 10 : 8))), runs: "boot" },
  { name: "tag latest", perHost: () => 2, runs: "all" },
  // prune: audit line and container prune; audit line, dangling and tagged image prune.
  { name: "prune", perHost: () => 5, runs: "all" },
  { name: "lock release", perHost: () => 1, runs: "primary" },
];

const ROLLBACK: Phase[] = [
  { name: "lock", perHost: () => 1, runs: "all" },
  { name: "lock acquire", perHost: () => 1, runs: "primary" },
  // container_available?: the version's container looked up per role.
  { name: "container check", perHost: (r) => r.length, runs: "all" },
  { name: "assets", perHost: (r) => 3 * r.filter((p) => p).length, runs: "all" },
  // boot per role, the clashing stopped container of that version renamed first: its lookup, an
  // audit line and the rename, then as on deploy.
  { name: "boot", perHost: (r) => sum(r.map((p) => (p ? 12 : 10))), runs: "boot" },
  { name: "tag latest", perHost: () => 2, runs: "all" },
  { name: "lock release", perHost: () => 1, runs: "primary" },
];

export interface KamalCount {
  /** Remote commands on one host running one proxied role (the primary's lock left out). */
  perWebHost: number;
  /** Of which file uploads (the secrets file), not command lines. */
  uploads: number;
  /** Dependent remote commands on the longest path through the whole command. */
  critical: number;
}

/**
 * Kamal's count for app hosts whose roles are given (true: the role runs kamal-proxy), in the
 * order Kamal boots them, with `boot.limit` as in the stack (a number or "N%").
 */
export function kamalCount(
  kind: "deploy" | "rollback",
  hosts: boolean[][],
  limit: number | string | undefined,
): KamalCount {
  const phases = kind === "deploy" ? DEPLOY : ROLLBACK;
  const perWebHost = sum(phases.filter((p) => p.runs !== "primary").map((p) => p.perHost([true])));
  const size =
    typeof limit === "string" && limit.endsWith("%")
      ? Math.max(1, Math.floor((hosts.length * parseInt(limit, 10)) / 100))
      : Number(limit ?? hosts.length) || hosts.length;
  const groups: boolean[][][] = [];
  for (let i = 0; i < hosts.length; i += size) groups.push(hosts.slice(i, i + size));
  const deepest = (hs: boolean[][], p: Phase) => Math.max(...hs.map((h) => p.perHost(h)));
  const critical = sum(
    phases.map((p) =>
      p.runs === "primary"
        ? p.perHost([])
        : p.runs === "all"
          ? deepest(hosts, p)
          : sum(groups.map((g) => deepest(g, p))),
    ),
  );
  return { perWebHost, uploads: 1, critical };
}
