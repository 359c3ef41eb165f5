// Builds every resource of a stack from its validated configuration.
import * as pulumi from "@pulumi/pulumi";
import { CloudHost, DeployConfig, serverName } from "../config/schema";
import { Secrets } from "../config/stack";
import { Accessory, accessoryDirectory } from "./accessory";
import { App } from "./app";
import { Build } from "./build";
import { postgresBackupScript, sqliteBackupScript, versionLabel } from "./commands";
import { Dns } from "./dns";
import { Host } from "./host";
import { LoadBalancer } from "./loadBalancer";
import { Platform } from "./platform";
import { Proxy } from "./proxy";
import { writeIdentityFile } from "./ssh";

/** Roles in deploy order: the primary role (web) first, the others as configured. */
export function roleOrder(cfg: DeployConfig): string[] {
  return ["web", ...Object.keys(cfg.servers).filter((r) => r !== "web")].filter((r) => cfg.servers[r]);
}

export function rolesOf(cfg: DeployConfig, host: string): string[] {
  return roleOrder(cfg).filter((role) => cfg.servers[role].hosts.includes(host));
}

export interface Deployment {
  platform?: Platform;
  hosts: Record<string, Host>;
  loadBalancer?: LoadBalancer;
  dns?: Dns;
  proxies: Record<string, Proxy>;
  build?: Build;
  accessories: Record<string, Accessory>;
  app: App;
}

export function deploy(cfg: DeployConfig, secrets: Secrets): Deployment {
  const prefix = `${cfg.service}-${cfg.stack}`;
  const labels = { "berth-service": cfg.service, "berth-stack": cfg.stack };
  const cloudHosts = Object.values(cfg.hosts).filter((h): h is CloudHost => h.kind === "cloud");
  // A server can join one placement group: the one of its first role.
  const placementRole = (host: string) => rolesOf(cfg, host)[0];

  const platform =
    cloudHosts.length > 0
      ? new Platform(prefix, {
          prefix,
          labels,
          publicKey: cfg.ssh.publicKey,
          hetznerKeyName: cfg.ssh.hetznerKeyName,
          sshPort: cfg.ssh.port,
          sshAllowFrom: cfg.ssh.allowFrom,
          ipRange: cfg.network.ipRange,
          subnet: cfg.network.subnet,
          location: cloudHosts[0].location,
          roles: [...new Set(cloudHosts.map((h) => placementRole(h.name)).filter((r): r is string => !!r))],
        })
      : undefined;

  const privateKey = cfg.ssh.privateKeySecret ? secrets.get(cfg.ssh.privateKeySecret) : undefined;
  // The docker provider runs the system ssh, which reads a key from a file (or the agent).
  const identityFile = privateKey ? pulumi.unsecret(privateKey.apply((key) => writeIdentityFile(key))) : undefined;
  const registryPassword = cfg.registry ? secrets.get(cfg.registry.passwordSecret) : undefined;
  const registryAuth =
    cfg.registry && registryPassword
      ? { address: cfg.registry.server, username: cfg.registry.username, password: registryPassword }
      : undefined;
  const hosts: Record<string, Host> = {};
  for (const host of Object.values(cfg.hosts)) {
    hosts[host.name] = new Host(host.name, {
      config: host,
      prefix,
      labels,
      roles: rolesOf(cfg, host.name),
      ssh: { user: cfg.ssh.user, port: cfg.ssh.port, publicKey: cfg.ssh.publicKey, privateKey, identityFile },
      serverName: serverName(cfg.service, cfg.stack, host.name),
      platform,
      placementRole: placementRole(host.name),
      registryAuth,
    });
  }

  const web = cfg.servers.web.hosts.map((h) => hosts[h]);
  const dns = cfg.dns
    ? new Dns(prefix, {
        zone: cfg.dns.zone,
        createZone: cfg.dns.createZone,
        ttl: cfg.dns.ttl,
        hosts: cfg.dns.hosts,
        labels,
      })
    : undefined;

  // Several web hosts: a load balancer in front, and DNS points at it (the schema requires dns then).
  let loadBalancer: LoadBalancer | undefined;
  if (web.length > 1 && cfg.dns && cfg.loadBalancer.enabled) {
    const firstCloudWeb = web.map((h) => h.config).find((h): h is CloudHost => h.kind === "cloud");
    loadBalancer = new LoadBalancer(prefix, {
      prefix,
      labels,
      type: cfg.loadBalancer.type,
      algorithm: cfg.loadBalancer.algorithm,
      location: cfg.loadBalancer.location ?? firstCloudWeb?.location ?? cloudHosts[0]?.location ?? "fsn1",
      domains: cfg.dns.hosts,
      healthPath: cfg.roles[0].proxy?.healthcheck.path ?? "/up",
      platform,
      targets: web,
      dependsOn: dns?.zone ? [dns.zone] : [],
    });
  }

  if (dns) {
    const first = web[0];
    dns.point(
      loadBalancer
        ? { ipv4: [loadBalancer.ipv4], ipv6: [loadBalancer.ipv6] }
        : {
            ipv4: [first.ipv4],
            ipv6: first.config.kind === "cloud" || first.config.ipv6 ? [first.ipv6] : undefined,
          },
    );
  }
  // kamal-proxy on every host that serves a proxied role, unless another stack runs it there.
  const proxies: Record<string, Proxy> = {};
  if (cfg.proxy.manage) {
    for (const host of new Set(cfg.roles.filter((r) => r.proxy).flatMap((r) => r.hosts))) {
      proxies[host] = new Proxy(`${host}-proxy`, { host: hosts[host], image: cfg.proxy.image });
    }
  }
  const build = cfg.builder
    ? new Build(`${cfg.service}-build`, { config: cfg, builder: cfg.builder, registryPassword })
    : undefined;
  const accessories: Record<string, Accessory> = {};
  for (const acc of cfg.accessories) {
    accessories[acc.name] = new Accessory(acc.name, { accessory: acc, config: cfg, hosts, secrets });
  }
  const extraEnv: Record<string, pulumi.Output<string>> = {};
  const beforeApp: Record<string, pulumi.Resource[]> = {};
  const backups: { name: string; host: Host; script: string; dependsOn: pulumi.Resource[] }[] = [];
  for (const a of Object.values(accessories)) {
    const acc = a.config;
    if (a.databaseUrl && acc.postgres?.databaseUrl) extraEnv[acc.postgres.databaseUrl] = a.databaseUrl;
    if (a.databaseHost && acc.postgres?.databaseHost) extraEnv[acc.postgres.databaseHost] = a.databaseHost;
    for (const [host, restore] of Object.entries(a.restores)) (beforeApp[host] ??= []).push(restore);
    if (!acc.backup?.beforeDeploy) continue;
    for (const host of acc.hosts) {
      const label = versionLabel(cfg.version);
      const script = acc.postgres
        ? postgresBackupScript({
            container: acc.container,
            user: acc.postgres.user,
            database: acc.postgres.database,
            dir: `${accessoryDirectory(cfg, acc, host)}/backups`,
            label,
            keep: acc.backup.keep,
          })
        : sqliteBackupScript({
            container: acc.container,
            databases: acc.litestream?.databases ?? [],
            label,
            keep: acc.backup.keep,
          });
      backups.push({ name: `${acc.name}-${host}`, host: hosts[host], script, dependsOn: [a.ready[host]] });
    }
  }
  const app = new App(cfg.service, {
    config: cfg,
    hosts,
    secrets,
    proxies,
    builtImage: build?.ref,
    build,
    extraEnv,
    beforeApp,
    beforeContainers: Object.values(accessories).flatMap((a) => Object.values(a.ready)),
    backups,
  });
  return { platform, hosts, loadBalancer, dns, proxies, build, accessories, app };
}

/** Stack outputs: a stable contract read by the operations CLI and by people. */
export function stackOutputs(cfg: DeployConfig, d: Deployment) {
  return {
    service: cfg.service,
    stack: cfg.stack,
    version: cfg.version,
    hosts: Object.fromEntries(Object.entries(d.hosts).map(([name, h]) => [name, h.outputs])),
    /**
     * The host key of every host, in known_hosts format: one line per host address, `[address]:port`
     * off port 22, each line ending in a newline. The operations CLI and CI workflows verify hosts with it.
     */
    knownHosts: pulumi
      .all(Object.values(d.hosts).map((h) => h.knownHost))
      .apply((lines) => lines.map((l) => `${l}\n`).join("")),
    loadBalancer: d.loadBalancer ? { ipv4: d.loadBalancer.ipv4, ipv6: d.loadBalancer.ipv6 } : undefined,
    dnsRecords: d.dns?.records.map((r) => ({ name: r.name, type: r.type, values: r.values })) ?? [],
    roles: d.app.roles,
    /** The canary running now (berth:canary): what `berth rollout` operates. */
    canary: d.app.canary,
    accessories: Object.fromEntries(Object.entries(d.accessories).map(([name, a]) => [name, a.outputs])),
    /** Connection URLs of postgres accessories, by accessory name: secret. */
    databaseUrls: pulumi.secret(
      Object.fromEntries(
        Object.entries(d.accessories).flatMap(([name, a]) => (a.databaseUrl ? [[name, a.databaseUrl]] : [])),
      ),
    ),
  };
}
export type StackOutputs = ReturnType<typeof stackOutputs>;
