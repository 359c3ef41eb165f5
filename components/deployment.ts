// Builds every resource of a stack from its validated configuration.
import * as pulumi from "@pulumi/pulumi";
import { CloudHost, DeployConfig, LOCATIONS, NetworkZone, serverName } from "../config/schema";
import { Secrets } from "../config/stack";
import { Accessory, accessoryDirectory } from "./accessory";
import { App } from "./app";
import { Build } from "./build";
import { CloudflareDns, EdgeTarget, OriginCertificate } from "./cloudflare";
import { postgresBackupScript, sqliteBackupScript } from "./commands/accessory";
import { versionLabel } from "./commands/app";
import { Dns, DnsRecordOutput, dnsZone } from "./dns";
import { Host } from "./host";
import { LoadBalancer } from "./loadBalancer";
import { StackOutputs as ReadStackOutputs } from "../config/outputs";
import { Platform } from "./platform";
import { Proxy } from "./proxy";
import { writeIdentityFile } from "./ssh";
import { ProxyCertificate } from "./tls";

/** Roles in deploy order: the primary role first, the others as configured. */
export function roleOrder(cfg: DeployConfig): string[] {
  return cfg.roles.map((r) => r.name);
}

export function rolesOf(cfg: DeployConfig, host: string): string[] {
  return roleOrder(cfg).filter((role) => cfg.servers[role].hosts.includes(host));
}

export interface Deployment {
  platform?: Platform;
  hosts: Record<string, Host>;
  loadBalancer?: LoadBalancer;
  dns?: Dns | CloudflareDns;
  /** The records berth manages, or with berth:dns.provider none the records to create. */
  dnsRecords: DnsRecordOutput[];
  proxies: Record<string, Proxy>;
  certificates: Record<string, OriginCertificate>;
  build?: Build;
  accessories: Record<string, Accessory>;
  /** Absent in a stack without roles (hosts and accessories only, or a server stack). */
  app?: App;
}

export function deploy(cfg: DeployConfig, secrets: Secrets): Deployment {
  const prefix = `${cfg.service}-${cfg.stack}`;
  const labels = { "berth-service": cfg.service, "berth-stack": cfg.stack };
  const cloudHosts = Object.values(cfg.hosts).filter((h): h is CloudHost => h.kind === "cloud");
  // A server can join one placement group: the one of its first role.
  const placementRole = (host: string) => rolesOf(cfg, host)[0];

  const zones = [...new Set(cloudHosts.map((h): NetworkZone => LOCATIONS[h.location]))];
  const platform =
    cloudHosts.length > 0
      ? new Platform(prefix, {
          prefix,
          labels,
          publicKey: cfg.ssh.publicKey!,
          hetznerKeyName: cfg.ssh.hetznerKeyName,
          sshPort: cfg.ssh.port,
          sshAllowFrom: cfg.ssh.allowFrom,
          ipRange: cfg.network.ipRange,
          subnet: cfg.network.subnet,
          homeZone: cfg.network.homeZone ?? zones[0],
          zones,
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
    // An attached host is reached the way its server stack reaches it.
    const reach = (host.kind === "existing" && host.attached?.ssh) || { user: cfg.ssh.user, port: cfg.ssh.port };
    hosts[host.name] = new Host(host.name, {
      config: host,
      prefix,
      labels,
      roles: rolesOf(cfg, host.name),
      ssh: { ...reach, publicKey: cfg.ssh.publicKey ?? "", privateKey, identityFile },
      serverName: serverName(cfg.service, cfg.stack, host.name),
      platform,
      placementRole: placementRole(host.name),
      registryAuth,
    });
  }

  const primary = cfg.primaryRole ? cfg.servers[cfg.primaryRole].hosts.map((h) => hosts[h]) : [];
  // The zone berth creates comes first: the load balancer's certificate needs it.
  const zone =
    cfg.dns?.provider === "hetzner" && cfg.dns.createZone
      ? dnsZone(prefix, { zone: cfg.dns.zone, ttl: cfg.dns.ttl, labels })
      : undefined;

  // A load balancer in front of the primary role when the stack chose one (berth:loadBalancer.enabled);
  // the schema requires the zone in Hetzner DNS then, for its certificate.
  let loadBalancer: LoadBalancer | undefined;
  if (cfg.loadBalancer.enabled && cfg.dns && primary.length > 0) {
    const firstCloud = primary.map((h) => h.config).find((h): h is CloudHost => h.kind === "cloud");
    loadBalancer = new LoadBalancer(prefix, {
      prefix,
      labels,
      type: cfg.loadBalancer.type,
      algorithm: cfg.loadBalancer.algorithm,
      location: cfg.loadBalancer.location ?? firstCloud?.location ?? cloudHosts[0]?.location ?? "fsn1",
      domains: cfg.dns.hosts,
      healthPath: cfg.roles[0].proxy?.healthcheck.path ?? "/up",
      platform,
      targets: primary,
      dependsOn: zone ? [zone] : [],
    });
  }

  // DNS points at the load balancer, or at every host of the primary role.
  const targets: EdgeTarget[] = loadBalancer
    ? [{ key: "lb", ipv4: loadBalancer.ipv4, ipv6: loadBalancer.ipv6 }]
    : primary.map((h) => ({
        key: h.name,
        ipv4: h.ipv4,
        ipv6: h.config.kind === "cloud" || h.config.ipv6 ? h.ipv6 : undefined,
      }));
  let dns: Dns | CloudflareDns | undefined;
  let dnsRecords: DnsRecordOutput[] = [];
  if (cfg.dns?.provider === "hetzner") {
    const v6 = targets.filter((t) => t.ipv6 !== undefined).map((t) => t.ipv6!);
    dns = new Dns(prefix, {
      zone: cfg.dns.zone,
      managedZone: zone,
      ttl: cfg.dns.ttl,
      hosts: cfg.dns.hosts,
      labels,
      target: { ipv4: targets.map((t) => t.ipv4), ipv6: v6.length ? v6 : undefined },
    });
    dnsRecords = dns.records;
  } else if (cfg.dns?.provider === "cloudflare") {
    dns = new CloudflareDns(prefix, {
      zone: cfg.dns.zone,
      ttl: cfg.dns.ttl,
      proxied: cfg.dns.proxied,
      hosts: cfg.dns.hosts,
      targets,
    });
    dnsRecords = dns.records;
  } else if (cfg.dns) {
    dnsRecords = plannedRecords(cfg.dns.hosts, targets);
    pulumi.log.info(
      `berth:dns.provider is none: create these records yourself (pulumi stack output dnsRecords lists them with their addresses): ${cfg.dns.hosts.map((h) => `${h} A/AAAA`).join(", ")}`,
    );
  }
  for (const warning of cfg.warnings) pulumi.log.warn(warning);

  // kamal-proxy on every host that serves a proxied role or that the stack shares with other
  // stacks' apps, unless something else runs it there (berth:proxy.manage false, or the server
  // stack an attached stack uses).
  const proxies: Record<string, Proxy> = {};
  if (cfg.proxy.manage) {
    const proxied = cfg.roles.filter((r) => r.proxy).flatMap((r) => r.hosts);
    for (const host of new Set([...proxied, ...cfg.proxy.sharedHosts])) {
      const h = cfg.hosts[host];
      if (h.kind === "existing" && h.attached) continue;
      proxies[host] = new Proxy(`${host}-proxy`, { host: hosts[host], image: cfg.proxy.image });
    }
  }
  const sharedProxies = Object.fromEntries(
    Object.values(cfg.hosts).flatMap((h) => (h.kind === "existing" && h.attached ? [[h.name, h.attached.proxy]] : [])),
  );
  // Cloudflare Origin CA certificates, one per role that asks for one, for its host names.
  const certificates: Record<string, OriginCertificate> = {};
  for (const role of cfg.roles) {
    if (!role.proxy?.origin) continue;
    certificates[role.name] = new OriginCertificate(`${cfg.service}-${role.name}-origin`, {
      hostnames: role.proxy.hosts,
    });
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
  const proxyCertificates: Record<string, ProxyCertificate> = {};
  for (const role of cfg.roles) {
    const cert = certificates[role.name];
    if (cert && role.proxy?.certificate)
      proxyCertificates[role.name] = { paths: role.proxy.certificate, bundle: cert.bundle, digest: cert.digest };
  }
  const app =
    cfg.roles.length === 0
      ? undefined
      : new App(cfg.service, {
          config: cfg,
          hosts,
          secrets,
          proxies,
          sharedProxies,
          certificates: proxyCertificates,
          builtImage: build?.ref,
          build,
          extraEnv,
          beforeApp,
          beforeContainers: Object.values(accessories).flatMap((a) => Object.values(a.ready)),
          backups,
        });
  return { platform, hosts, loadBalancer, dns, dnsRecords, proxies, certificates, build, accessories, app };
}

/** The records of berth:dns.provider none: what berth would create, for the user to create. */
function plannedRecords(names: string[], targets: EdgeTarget[]): DnsRecordOutput[] {
  return names.flatMap((name) =>
    (["A", "AAAA"] as const).flatMap((type) => {
      const values = targets.map((t) => (type === "A" ? t.ipv4 : t.ipv6)).filter((v) => v !== undefined);
      if (values.length === 0) return [];
      return [
        {
          name,
          type,
          values: pulumi.all(values).apply((vs) => vs.filter((v): v is string => !!v)),
        },
      ];
    }),
  );
}

/** Stack outputs: a stable contract read by the operations CLI and by people. */
export function stackOutputs(cfg: DeployConfig, d: Deployment) {
  return {
    service: cfg.service,
    stack: cfg.stack,
    // A stack without roles deploys no version.
    version: cfg.roles.length > 0 ? cfg.version : undefined,
    hosts: Object.fromEntries(Object.entries(d.hosts).map(([name, h]) => [name, h.outputs])),
    /**
     * The host key of every host, in known_hosts format: one line per host address, `[address]:port`
     * off port 22, each line ending in a newline. The operations CLI and CI workflows verify hosts with it.
     */
    knownHosts: pulumi
      .all(Object.values(d.hosts).map((h) => h.knownHost))
      .apply((lines) => lines.map((l) => `${l}\n`).join("")),
    loadBalancer: d.loadBalancer ? { ipv4: d.loadBalancer.ipv4, ipv6: d.loadBalancer.ipv6 } : undefined,
    dnsRecords: d.dnsRecords.map((r) => ({ name: r.name, type: r.type, values: r.values })),
    roles: d.app?.roles ?? {},
    /** The canary running now (berth:canary): what `berth rollout` operates. */
    canary: d.app?.canary,
    accessories: Object.fromEntries(Object.entries(d.accessories).map(([name, a]) => [name, a.outputs])),
    /** Connection URLs of postgres accessories, by accessory name: secret. */
    databaseUrls: pulumi.secret(
      Object.fromEntries(
        Object.entries(d.accessories).flatMap(([name, a]) => (a.databaseUrl ? [[name, a.databaseUrl]] : [])),
      ),
    ),
    /** What app stacks attach with (berth:attach), when this is a server stack (berth:proxy.sharedHosts). */
    shared: sharedOutput(cfg, d),
  };
}

/** The hosts a server stack shares and their kamal-proxy: read by app stacks (config/attach.ts). */
function sharedOutput(cfg: DeployConfig, d: Deployment) {
  if (cfg.proxy.sharedHosts.length === 0) return undefined;
  return {
    ssh: { user: cfg.ssh.user, port: cfg.ssh.port },
    hosts: Object.fromEntries(
      cfg.proxy.sharedHosts.map((name) => {
        const host = d.hosts[name];
        const config = cfg.hosts[name];
        return [
          name,
          {
            ipv4: host.ipv4,
            ipv6: host.ipv6,
            privateIp: host.privateIp,
            hostKey: host.hostKey,
            generation: host.generation,
            proxy: d.proxies[name].container.id,
            zone: config.kind === "cloud" ? LOCATIONS[config.location] : undefined,
          },
        ];
      }),
    ),
  };
}
export type StackOutputs = ReturnType<typeof stackOutputs>;
/** Fails to compile when the outputs stop giving the command line what it reads (config/outputs.ts). */
export type OutputsKeepTheirContract = Readable<pulumi.Unwrap<StackOutputs>>;
type Readable<T extends ReadStackOutputs> = T;
