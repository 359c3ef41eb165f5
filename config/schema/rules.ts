// Rules that look at several keys of the stack at once; the stack schema runs them after each
// key has passed its own checks (./input).
import { z } from "zod";
import { EnvConfig, ORIGIN_CERTIFICATE, RoleProxyConfig } from "../app";
import { closest } from "../closest";
import { checkDns } from "../dns";
import { rolloutProblems } from "../rollout";
import { looksLikeCredential, SECRET_NAME } from "../secrets";
import { checkAccessory } from "./accessoryRules";
import { hostKeysHelp, parseHostKey, usableHostKey } from "./hosts";
import type { CheckedStack } from "./input";
import { cloudZones, edgeOf, mergeEnv, resolveProxy } from "./resolve";

/**
 * The berth:secrets entry that keys the fingerprints in app container names (config/stack.ts
 * `fingerprint`): a random value, set once per stack, never given to a container.
 */
export const FINGERPRINT_KEY = "BERTH_FINGERPRINT_KEY";
export const FINGERPRINT_KEY_COMMAND = `openssl rand -hex 32 | pulumi config set --secret --path 'berth:secrets.${FINGERPRINT_KEY}'`;

/** Rules that span several keys: references between hosts, roles, DNS and secrets. */
export function crossCheck(cfg: CheckedStack, ctx: z.RefinementCtx): void {
  const hostNames = Object.keys(cfg.hosts);
  const nearest = (name: string) => closest(name, hostNames);

  if (hostNames.length === 0)
    ctx.addIssue({
      code: "custom",
      path: ["hosts"],
      message: "define at least one host, or attach to a server stack's hosts with berth:attach",
    });
  const roleNames = Object.keys(cfg.servers);
  if (cfg.primaryRole !== undefined && !cfg.servers[cfg.primaryRole])
    ctx.addIssue({
      code: "custom",
      path: ["primaryRole"],
      message: `unknown role "${cfg.primaryRole}"; ${roleNames.length ? `roles are ${roleNames.join(", ")}` : "berth:servers defines no role"}`,
    });
  if (roleNames.length > 0 && cfg.image === undefined)
    ctx.addIssue({
      code: "custom",
      path: ["image"],
      message: "required: the image repository the roles run, without tag, such as ghcr.io/acme/app",
    });
  for (const [role, def] of Object.entries(cfg.servers)) {
    const seen = new Set<string>();
    def.hosts.forEach((host, i) => {
      if (seen.has(host)) {
        ctx.addIssue({
          code: "custom",
          path: ["servers", role, "hosts", i],
          message: `duplicate host "${host}"; list each host once`,
        });
      }
      seen.add(host);
      if (!cfg.hosts[host]) {
        const hint = nearest(host);
        ctx.addIssue({
          code: "custom",
          path: ["servers", role, "hosts", i],
          message: `unknown host "${host}"; define it under berth:hosts${hint ? ` or did you mean "${hint}"?` : ""}`,
        });
      }
    });
  }

  for (const [name, host] of Object.entries(cfg.hosts)) {
    const where = host.address ?? "<server address>";
    if (host.address !== undefined && !host.hostKeys) {
      ctx.addIssue({
        code: "custom",
        path: ["hosts", name, "hostKeys"],
        message: `required for an existing machine, so berth verifies it is talking to this machine instead of trusting the first key it sees: ${hostKeysHelp(name, where, cfg.ssh.port)}`,
      });
    }
    const keys = (host.hostKeys ?? []).map(parseHostKey).filter((k): k is string => !!k);
    if (keys.length > 0 && keys.length === host.hostKeys?.length && !usableHostKey(keys)) {
      ctx.addIssue({
        code: "custom",
        path: ["hosts", name, "hostKeys"],
        message: `needs the machine's ed25519 (or ECDSA) key beside RSA ones, since servers refuse the SHA-1 signatures an RSA host key would be checked with: ${hostKeysHelp(name, where, cfg.ssh.port)}`,
      });
    }
  }

  const byAddress = new Map<string, string>();
  for (const [name, host] of Object.entries(cfg.hosts)) {
    if (host.address === undefined) continue;
    const other = byAddress.get(host.address);
    if (other) {
      ctx.addIssue({
        code: "custom",
        path: ["hosts", name, "address"],
        message: `same address as host "${other}"; a machine is listed once and may run several roles`,
      });
    }
    byAddress.set(host.address, name);
  }

  checkZones(cfg, ctx);
  if (!cidrContains(cfg.network.ipRange, cfg.network.subnet)) {
    ctx.addIssue({
      code: "custom",
      path: ["network", "subnet"],
      message: `must lie inside berth:network.ipRange (${cfg.network.ipRange})`,
    });
  }
  for (const [name, host] of Object.entries(cfg.hosts)) {
    if (host.privateIp && !cidrContains(cfg.network.subnet, `${host.privateIp}/32`)) {
      ctx.addIssue({
        code: "custom",
        path: ["hosts", name, "privateIp"],
        message: `must lie inside berth:network.subnet (${cfg.network.subnet})`,
      });
    }
  }

  checkDns(cfg.dns, ctx);
  checkEdge(cfg, ctx);
  if (cfg.ssh.publicKey === undefined && Object.values(cfg.hosts).some((h) => h.address === undefined))
    ctx.addIssue({
      code: "custom",
      path: ["ssh", "publicKey"],
      message:
        "required for Hetzner Cloud servers, which cloud-init gives this key: set the contents of ~/.ssh/id_ed25519.pub",
    });
  (cfg.proxy.sharedHosts ?? []).forEach((h, i) => {
    if (!cfg.hosts[h]) {
      const hint = nearest(h);
      ctx.addIssue({
        code: "custom",
        path: ["proxy", "sharedHosts", i],
        message: `unknown host "${h}"; define it under berth:hosts${hint ? ` or did you mean "${hint}"?` : ""}`,
      });
    }
  });
  if (cfg.proxy.sharedHosts && !cfg.proxy.manage)
    ctx.addIssue({
      code: "custom",
      path: ["proxy", "sharedHosts"],
      message: "a server stack runs the kamal-proxy it shares: remove berth:proxy.manage: false",
    });
  if (cfg.attach && cfg.proxy.sharedHosts)
    ctx.addIssue({
      code: "custom",
      path: ["attach"],
      message:
        "a stack either shares its hosts (berth:proxy.sharedHosts) or attaches to another's, not both; attach each app to the server stack",
    });

  const secretNames = Object.keys(cfg.secrets);
  const needSecret = (name: string | undefined, path: (string | number)[]) => {
    // A value that is not a valid name already has its message (and is never repeated).
    if (name !== undefined && !(name in cfg.secrets) && SECRET_NAME.test(name) && !looksLikeCredential(name)) {
      const hint = closest(name, secretNames);
      ctx.addIssue({
        code: "custom",
        path,
        message: `secret "${name}" is not set; run \`pulumi config set --secret --path 'berth:secrets.${name}' ...\`${hint ? ` or did you mean "${hint}"?` : ""}`,
      });
    }
  };
  needSecret(cfg.ssh.privateKeySecret, ["ssh", "privateKeySecret"]);
  needSecret(cfg.registry?.passwordSecret, ["registry", "passwordSecret"]);
  const envSecrets = (env: EnvConfig | undefined, path: (string | number)[]) =>
    (env?.secret ?? []).forEach((entry, i) => {
      const name = entry.split(":")[1] ?? entry;
      if (name === FINGERPRINT_KEY) {
        ctx.addIssue({
          code: "custom",
          path: [...path, "secret", i],
          message: `${FINGERPRINT_KEY} keys berth's container fingerprints and is never given to a container; use another secret`,
        });
      } else needSecret(name, [...path, "secret", i]);
    });
  checkFingerprintKey(cfg, ctx);
  envSecrets(cfg.env, ["env"]);
  for (const [tag, env] of Object.entries(cfg.env?.tags ?? {})) envSecrets(env, ["env", "tags", tag]);
  for (const [name, acc] of Object.entries(cfg.accessories ?? {})) {
    const path = ["accessories", name];
    envSecrets(acc.env, [...path, "env"]);
    needSecret(acc.postgres?.passwordSecret, [...path, "postgres", "passwordSecret"]);
    needSecret(acc.litestream?.replica.accessKeyIdSecret, [...path, "litestream", "replica", "accessKeyIdSecret"]);
    needSecret(acc.litestream?.replica.secretAccessKeySecret, [
      ...path,
      "litestream",
      "replica",
      "secretAccessKeySecret",
    ]);
    checkAccessory(cfg, name, acc, ctx);
  }

  const edge = edgeOf(cfg);
  for (const [role, def] of Object.entries(cfg.servers)) {
    envSecrets(def.env, ["servers", role, "env"]);
    const proxy = resolveProxy(role, def, cfg.proxy, edge);
    if (!proxy) continue;
    const own = <K extends keyof RoleProxyConfig>(k: K) => typeof def.proxy === "object" && def.proxy[k] !== undefined;
    const sslPath = own("ssl") ? ["servers", role, "proxy", "ssl"] : ["proxy", "ssl"];
    const explicitSsl = own("ssl") && typeof def.proxy === "object" ? def.proxy.ssl : cfg.proxy.ssl;
    if (explicitSsl === true && def.hosts.length > 1) {
      ctx.addIssue({
        code: "custom",
        path: sslPath,
        message: `kamal-proxy can only obtain Let's Encrypt certificates for a role on a single host (each host would answer the HTTP challenge for the others' requests); role ${role} has ${def.hosts.length}. Set ssl: false (TLS ends at the load balancer) or, behind Cloudflare, ssl: ${ORIGIN_CERTIFICATE}`,
      });
    }
    if (proxy.origin && edge.dns?.provider !== "cloudflare") {
      ctx.addIssue({
        code: "custom",
        path: sslPath,
        message: `a Cloudflare Origin CA certificate is requested through the Cloudflare zone of berth:dns: set berth:dns.provider: cloudflare, or ssl: true for Let's Encrypt`,
      });
    }
    if (proxy.origin && edge.loadBalancer && role === edge.primary) {
      ctx.addIssue({
        code: "custom",
        path: sslPath,
        message: "TLS of the primary role ends at the load balancer; remove ssl or the load balancer",
      });
    }
    const hc = { ...cfg.proxy.healthcheck, ...(typeof def.proxy === "object" ? def.proxy.healthcheck : {}) };
    const deployTimeout = own("deployTimeout") || cfg.proxy.deployTimeout !== undefined;
    if (hc.maxAttempts !== undefined && deployTimeout) {
      ctx.addIssue({
        code: "custom",
        path: own("healthcheck")
          ? ["servers", role, "proxy", "healthcheck", "maxAttempts"]
          : ["proxy", "healthcheck", "maxAttempts"],
        message: `sets the deploy timeout (interval × maxAttempts), which deployTimeout sets too: keep one`,
      });
    }
    // kamal-proxy v0.9.2 refuses TLS on a service that does not include the root path
    // (internal/cmd/deploy.go: "TLS settings must be specified on the root path service"; path
    // prefixes are normalised to "/" plus the prefix without slashes, internal/server/service_map.go).
    if (proxy.ssl && proxy.pathPrefixes.length > 0 && !proxy.pathPrefixes.some((p) => /^\/*$/.test(p))) {
      const own = typeof def.proxy === "object" && def.proxy.pathPrefix !== undefined;
      ctx.addIssue({
        code: "custom",
        path: own ? ["servers", role, "proxy", "pathPrefix"] : ["proxy", "pathPrefix"],
        message: `role ${role} serves only ${proxy.pathPrefixes.join(", ")} with ssl on, which kamal-proxy refuses: it takes TLS settings only from the service on the root path. Set ssl: false on this role (TLS then ends at the load balancer, Cloudflare, or the app serving / on these host names), or remove pathPrefix`,
      });
    }
    if (proxy.ssl && proxy.hosts.length === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["proxy", "hosts"],
        message: `role ${role} uses ssl, which needs the host names to certify: set berth:proxy.hosts or berth:dns.hosts`,
      });
    }
  }
  const roles = Object.fromEntries(
    Object.entries(cfg.servers).map(([role, def]) => [
      role,
      { hosts: def.hosts, proxied: def.proxy === undefined ? role === "web" : def.proxy !== false },
    ]),
  );
  for (const p of rolloutProblems({ ...cfg, roles })) ctx.addIssue({ code: "custom", ...p });
}

/**
 * BERTH_FINGERPRINT_KEY: required as soon as an app container receives a secret (an env secret
 * or a postgres accessory's DATABASE_URL), since the container's name then carries a keyed
 * fingerprint of it; when set, long enough to be a key rather than a password.
 */
function checkFingerprintKey(cfg: CheckedStack, ctx: z.RefinementCtx): void {
  const key = cfg.secrets[FINGERPRINT_KEY];
  const path = ["secrets", FINGERPRINT_KEY];
  if (key !== undefined) {
    if (key.length < 32) {
      ctx.addIssue({
        code: "custom",
        path,
        message: `must be a random key of at least 32 characters, not a password; set one with \`${FINGERPRINT_KEY_COMMAND}\``,
      });
    }
    return;
  }
  const receivers = Object.entries(cfg.servers).flatMap(([role, def]) =>
    Object.keys(mergeEnv(cfg.env, def.env, ...Object.values(cfg.env?.tags ?? {})).secret).map(
      (name) => `${name} (role ${role})`,
    ),
  );
  for (const [name, acc] of Object.entries(cfg.accessories ?? {}))
    if (acc.postgres && acc.postgres.databaseUrl !== false)
      receivers.push(`${acc.postgres.databaseUrl} (accessory ${name})`);
  if (receivers.length === 0) return;
  ctx.addIssue({
    code: "custom",
    path,
    message: `secret "${FINGERPRINT_KEY}" is not set; app containers receive secrets (${[...new Set(receivers)].join(", ")}), and berth names each container after a fingerprint of what it runs, keyed so the name reveals nothing about them. Set a random key once: \`${FINGERPRINT_KEY_COMMAND}\``,
  });
}

/**
 * Where DNS points and whether a load balancer fronts the primary role: the choices that only
 * make sense together.
 */
function checkEdge(cfg: CheckedStack, ctx: z.RefinementCtx): void {
  const { primary, dns } = edgeOf(cfg);
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
  const hosts = primary ? cfg.servers[primary].hosts.filter((h) => cfg.hosts[h]) : [];
  const enabled = cfg.loadBalancer.enabled;
  if (enabled === true && !primary)
    issue(["loadBalancer", "enabled"], "a load balancer fronts the primary role, and berth:servers defines no role");
  else if (enabled === true && dns?.provider !== "hetzner")
    issue(
      ["loadBalancer", "enabled"],
      dns
        ? `the load balancer's Let's Encrypt certificate needs the zone in Hetzner DNS, and berth:dns.provider is ${dns.provider}: ${dns.provider === "cloudflare" ? "with proxied records Cloudflare spreads traffic over the hosts itself; set enabled: false" : "set berth:dns.provider: hetzner, or enabled: false"}`
        : "the load balancer's Let's Encrypt certificate needs the zone in Hetzner DNS: add berth:dns (zone and hosts), or set enabled: false",
    );
  const proxied = primary !== undefined && resolveProxy(primary, cfg.servers[primary], cfg.proxy, edgeOf(cfg));
  if (enabled === undefined && primary && hosts.length > 1 && !dns && proxied)
    issue(
      ["loadBalancer", "enabled"],
      `required: the primary role ${primary} has ${hosts.length} hosts; choose how traffic reaches them: true puts a Hetzner load balancer in front (add berth:dns with the zone in Hetzner DNS for its certificate), false lets each host's kamal-proxy answer on its own address (behind Cloudflare: add berth:dns with provider: cloudflare)`,
    );
  if (dns && primary && !proxied)
    issue(
      ["dns"],
      `the records point at the primary role's hosts, but role ${primary} runs without kamal-proxy: set berth:primaryRole to the role that serves the host names, or remove berth:dns`,
    );
  if (dns && !primary)
    issue(
      ["dns"],
      "the records point at the primary role's hosts, and berth:servers defines no role: remove berth:dns",
    );
}

/**
 * Hetzner Cloud hosts in several network zones: each zone gets its own private network, and the
 * zone that keeps the stack's first network must be named so adding a zone never renames it.
 */
function checkZones(cfg: CheckedStack, ctx: z.RefinementCtx): void {
  const zones = cloudZones(cfg);
  if (zones.length > 1 && cfg.network.zone === undefined)
    ctx.addIssue({
      code: "custom",
      path: ["network", "zone"],
      message: `required: Hetzner Cloud hosts span network zones ${zones.join(", ")}, and each zone gets its own private network; name the zone whose network the stack already has (the zone of its first hosts), so it keeps its name: one of ${zones.join(", ")}`,
    });
  if (cfg.network.zone !== undefined && zones.length > 0 && !zones.includes(cfg.network.zone))
    ctx.addIssue({
      code: "custom",
      path: ["network", "zone"],
      message: `no Hetzner Cloud host is in ${cfg.network.zone}; the hosts are in ${zones.join(", ")}`,
    });
}

function cidrContains(outer: string, inner: string): boolean {
  const parse = (c: string) => {
    const [ip, bits] = c.split("/");
    const n = ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
    return { n, bits: Number(bits) };
  };
  const o = parse(outer);
  const i = parse(inner);
  if (i.bits < o.bits) return false;
  const size = 2 ** (32 - o.bits);
  return Math.floor(o.n / size) === Math.floor(i.n / size);
}
