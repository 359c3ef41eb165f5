// Generated stacks of any size for the benchmarks, built on the production example so every
// setting a real stack carries (registry, env, proxy, assets, boot, DNS) is exercised.
import { stackConfig } from "./examples";

type Config = Record<string, unknown>;

/**
 * One section of a generated stack per entry: each gets the host names and fills in its part
 * of the config. A new section is one more entry here.
 */
export const SECTIONS: Record<string, (c: Config, hosts: string[]) => void> = {
  hosts: (c, hosts) => {
    c["berth:hosts"] = Object.fromEntries(
      hosts.map((h, i) => [
        h,
        {
          serverType: i % 10 === 9 ? "cx33" : "cx23",
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
  // A PostGIS database on the last host (on its volume when it has one) and a Redis cache on the
  // first, as a production stack would have.
  accessories: (c, hosts) => {
    const dbHost = hosts[hosts.length - 1];
    c["berth:accessories"] = {
      db: {
        image: "postgis/postgis:17-3.5",
        host: dbHost,
        port: 5432,
        ...(hosts.length % 10 === 0 ? { volume: "data" } : {}),
        postgres: { database: "app", passwordSecret: "POSTGRES_PASSWORD", extensions: ["postgis"] },
      },
      redis: { image: "redis:7.4", host: hosts[0], port: "127.0.0.1:6379:6379", directories: ["data:/data"] },
    };
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
