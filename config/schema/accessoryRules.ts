// The rules of one accessory that look at the rest of the stack: placement, volume, port, kind.
import { z } from "zod";
import { AccessoryInput, parsePort, privateAddress } from "../accessory";
import { closest } from "../closest";
import { LOCATIONS } from "./hosts";
import type { CheckedStack } from "./input";
import { accessoryHosts } from "./resolve";

/** Placement, volume, port and kind rules of one accessory. */
export function checkAccessory(cfg: CheckedStack, name: string, acc: AccessoryInput, ctx: z.RefinementCtx): void {
  const at = (...rest: (string | number)[]) => ["accessories", name, ...rest];
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
  const placements = (["host", "hosts", "roles"] as const).filter((k) => acc[k] !== undefined);
  if (placements.length !== 1) {
    issue(
      at(placements[1] ?? "host"),
      placements.length === 0
        ? "required: say where it runs with `host: <host>`, `hosts: [...]` or `roles: [...]`"
        : `set only one of host, hosts and roles (found ${placements.join(", ")})`,
    );
  }
  const hostNames = Object.keys(cfg.hosts);
  const checkHost = (h: string, path: (string | number)[]) => {
    if (!cfg.hosts[h]) {
      const hint = closest(h, hostNames);
      issue(path, `unknown host "${h}"; define it under berth:hosts${hint ? ` or did you mean "${hint}"?` : ""}`);
    }
  };
  if (acc.host !== undefined) checkHost(acc.host, at("host"));
  acc.hosts?.forEach((h, i) => checkHost(h, at("hosts", i)));
  acc.roles?.forEach((r, i) => {
    if (!cfg.servers[r]) issue(at("roles", i), `unknown role "${r}"; roles are ${Object.keys(cfg.servers).join(", ")}`);
  });
  const hosts = accessoryHosts(cfg, acc);

  if (acc.image === undefined && !acc.litestream) {
    issue(at("image"), "required: an image with a pinned tag, e.g. postgis/postgis:17-3.5 or redis:7.4");
  }
  if (acc.postgres && acc.litestream)
    issue(at("litestream"), "an accessory is either postgres or litestream, not both");
  if (acc.backup && !acc.postgres && !acc.litestream) {
    issue(at("backup"), "backups are for postgres and litestream accessories; remove it or add `postgres:`");
  }

  if (acc.volume !== undefined) {
    const host = hosts.length === 1 ? cfg.hosts[hosts[0]] : undefined;
    if (hosts.length !== 1) {
      issue(at("volume"), "a Hetzner volume belongs to one host: run the accessory on one `host`");
    } else if (host && !host.volumes?.[acc.volume]) {
      const known = Object.keys(host.volumes ?? {});
      issue(
        at("volume"),
        `host ${hosts[0]} has no volume "${acc.volume}"; add it under berth:hosts.${hosts[0]}.volumes${known.length ? ` (it has ${known.join(", ")})` : ""}`,
      );
    }
  }

  const published = acc.port === undefined ? undefined : parsePort(acc.port);
  if (published) {
    if (published.hostPort > 65535 || published.containerPort > 65535 || published.hostPort < 1) {
      issue(at("port"), "ports must lie between 1 and 65535");
    }
    if (published.bind === "private") {
      for (const h of hosts) {
        const host = cfg.hosts[h];
        if (host?.address !== undefined && host.privateAddress === undefined) {
          issue(
            at("port"),
            `host ${h} is an existing machine without privateAddress, so its private address is unknown: set berth:hosts.${h}.privateAddress or bind loopback with "127.0.0.1:${published.hostPort}:${published.containerPort}"`,
          );
        }
      }
    }
    const explicit = published.bind !== "private" && published.bind !== "loopback" ? published.bind : undefined;
    if (explicit && !privateAddress(explicit) && !acc.publicPort) {
      issue(
        at("port"),
        `binds ${explicit}, a public address: use "${published.hostPort}:${published.containerPort}" (private network) or "127.0.0.1:..." (loopback), or set publicPort: true if it must be public`,
      );
    }
  }

  const appHosts = hostsWithRoles(cfg.servers);
  if (acc.postgres && acc.postgres.databaseUrl !== false) {
    if (hosts.length > 1) issue(at("hosts"), "a postgres accessory with a DATABASE_URL runs on one host");
    const elsewhere = [...appHosts].some((h) => !hosts.includes(h));
    if (elsewhere && (!published || published.bind === "loopback")) {
      issue(
        at("port"),
        "required: the app runs on other hosts, which reach the database over the private network; set port: 5432 (or set postgres.databaseUrl: false)",
      );
    }
  }
  if (published && published.bind === "private") {
    // A Hetzner network lives in one zone: app hosts elsewhere reach no private address here.
    const zoneOf = (h: string) => {
      const location = cfg.hosts[h]?.location;
      return location ? LOCATIONS[location] : undefined;
    };
    const served = new Set(hosts.map(zoneOf));
    const anywhere = hosts.some((h) => cfg.hosts[h]?.address !== undefined);
    const cut = [...appHosts].filter((h) => zoneOf(h) !== undefined && !served.has(zoneOf(h)) && !anywhere);
    if (cut.length > 0 && hosts.every((h) => cfg.hosts[h]))
      issue(
        at(acc.host !== undefined ? "host" : acc.hosts ? "hosts" : "roles"),
        `app hosts ${cut.map((h) => `${h} (${zoneOf(h)})`).join(", ")} cannot reach it: it is published on the private network of ${[...served].join(", ")}, and a Hetzner network lives in one network zone. Run it on a host of that zone too (roles: [...] runs it beside each role host), or move those hosts into its zone`,
      );
  }
  if (acc.litestream) {
    hosts.forEach((h) => {
      if (cfg.hosts[h] && !appHosts.has(h)) {
        issue(
          at(acc.host !== undefined ? "host" : "hosts"),
          `Litestream runs beside the app's SQLite files, but host ${h} runs no role`,
        );
      }
    });
    const vol = acc.litestream.volume;
    if (!(cfg.volumes ?? []).some((v) => v.split(":")[0] === vol)) {
      issue(
        at("litestream", "volume"),
        `"${vol}" is not a volume of the app; add "${vol}:/rails/storage" to berth:volumes or name the app's volume`,
      );
    }
  }
}

// Computed once per config, not once per accessory: a large config has many of both.
const roleHosts = new WeakMap<object, Set<string>>();
function hostsWithRoles(servers: CheckedStack["servers"]): Set<string> {
  let set = roleHosts.get(servers);
  if (!set) roleHosts.set(servers, (set = new Set(Object.values(servers).flatMap((r) => r.hosts))));
  return set;
}
