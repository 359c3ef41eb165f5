// Generated stacks of any size for the benchmarks, built on the production example so every
// setting a real stack carries (registry, env, proxy, assets, boot, DNS) is exercised.
import { stackConfig } from "../../test/harness";

type Config = Record<string, unknown>;

/**
 * One section of a generated stack per entry: each gets the host names and fills in its part
 * of the config. A new section (accessories, say: `c["berth:accessories"] = {...}` on a few
 * stateful hosts) is one more entry here.
 */
export const SECTIONS: Record<string, (c: Config, hosts: string[]) => void> = {
  hosts: (c, hosts) => {
    c["berth:hosts"] = Object.fromEntries(
      hosts.map((h, i) => [
        h,
        {
          serverType: i % 10 === 9 ? "cx32" : "cx22",
          location: ["fsn1", "nbg1", "hel1"][i % 3],
          // Every tenth host keeps data on its own volume.
          ...(i % 10 === 9 ? { stateful: true, volumes: { data: { size: 20 } } } : {}),
        },
      ]),
    );
  },
  // Three roles: half the hosts serve web traffic, the others run jobs, and every other job host
  // also runs a worker, so hosts carry one or two roles.
  roles: (c, hosts) => {
    const web = hosts.filter((_, i) => i % 2 === 0);
    const rest = hosts.filter((_, i) => i % 2 === 1);
    const servers: Config = { web: { hosts: web, options: { memory: "2g" } } };
    if (rest.length) servers.job = { hosts: rest, cmd: "bin/jobs" };
    const workers = rest.filter((_, i) => i % 2 === 0);
    if (workers.length) servers.worker = { hosts: workers, cmd: "bin/worker", env: { clear: { QUEUE: "default" } } };
    c["berth:servers"] = servers;
  },
  volumes: (c) => {
    c["berth:volumes"] = ["storage:/rails/storage"];
  },
  boot: (c) => {
    c["berth:boot"] = { limit: "25%", wait: 2 };
  },
};

/** Host names of a generated stack: host-001, host-002, ... */
export function hostNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `host-${String(i + 1).padStart(3, "0")}`);
}

/** Engine-style config of a production-like stack with `count` hosts. */
export function generatedStack(count: number, change?: (c: Config) => void) {
  const hosts = hostNames(count);
  return stackConfig("production", (c) => {
    for (const section of Object.values(SECTIONS)) section(c, hosts);
    change?.(c);
  });
}
