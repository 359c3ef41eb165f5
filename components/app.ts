// Longer than 400 lines: one deploy's order (pulls, boot groups, hooks, canary, verification) is one dependency graph, built in one place.
// The app deploy: per host the version's image, per role and host one container per version and
// run fingerprint, then kamal-proxy's health-checked switch (proxied roles) or a readiness wait
// (other roles). A container's logical and docker names carry the version and a fingerprint of
// everything it runs, so any change (a new version, an env value, a rotated secret, a run
// option) is a create beside the old container, a switch, and a delete Pulumi runs at the end of
// the update, after every switch succeeded: docker_container replacements are delete-first in
// pulumi-docker (provider/resources.go), so a container is never changed in place.
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { VERSION_LABEL } from "../config/names";
import { Canary } from "../config/rollout";
import { Accessory, DeployConfig, Role } from "../config/schema";
import { Secrets } from "../config/stack";
import { DOCKER_NETWORK } from "./bootstrap";
import { containerLogging, containerOptionInputs, containerVolume } from "./container";
import {
  assetScript,
  assetVolumeDir,
  awaitRunningScript,
  containerName,
  imageRef,
  pruneImagesScript,
  versionLabel,
} from "./commands/app";
import { HookName, hookScript } from "./commands/hook";
import { maintenanceScript, proxyRemoveScript, proxyService, routeScript } from "./commands/proxy";
import { Host } from "./host";
import { Proxy } from "./proxy";
import { installCertificate, ProxyCertificate } from "./tls";
import { rolloutScript, rolloutStopScript, verifyCommandScript, verifyScript } from "./commands/rollout";

export interface AppArgs {
  config: DeployConfig;
  hosts: Record<string, Host>;
  secrets: Secrets;
  /** kamal-proxy per host, when this stack runs it (berth:proxy.manage). */
  proxies: Record<string, Proxy>;
  /** Per attached host (berth:attach): the id of the kamal-proxy container the server stack runs there. */
  sharedProxies?: Record<string, string>;
  /** Per role: the certificate kamal-proxy serves instead of a Let's Encrypt one. */
  certificates?: Record<string, ProxyCertificate>;
  /** The image to deploy when berth builds it: the pushed digest reference. */
  builtImage?: pulumi.Output<string>;
  /** Build step the pre-deploy hook waits for. */
  build?: pulumi.Resource;
  /** Secret variables added to every app container, e.g. DATABASE_URL from an accessory. */
  extraEnv?: Record<string, pulumi.Output<string>>;
  /** Per host: what must finish before the first app container there starts (e.g. a restore). */
  beforeApp?: Record<string, pulumi.Resource[]>;
  /** What every new app container waits for: accessories it talks to being ready. */
  beforeContainers?: pulumi.Resource[];
  /**
   * Backups taken on every deploy, after the pre-deploy hook and before any new container
   * starts (and runs its migrations).
   */
  backups?: { name: string; host: Host; script: string; dependsOn: pulumi.Resource[] }[];
}

/** Splits hosts into Kamal's boot groups: `limit` hosts (or a percentage of them) at a time. */
export function bootGroups(hosts: string[], limit?: number | string): string[][] {
  if (limit === undefined) return hosts.length ? [hosts] : [];
  const size =
    typeof limit === "number" ? limit : Math.max(1, Math.ceil((hosts.length * Number(limit.replace("%", ""))) / 100));
  const groups: string[][] = [];
  for (let i = 0; i < hosts.length; i += size) groups.push(hosts.slice(i, i + size));
  return groups;
}

/** Home directory of the SSH user, under which berth keeps its files on a host. */
export function homeDirectory(cfg: Pick<DeployConfig, "ssh">): string {
  return cfg.ssh.user === "root" ? "/root" : `/home/${cfg.ssh.user}`;
}

/** Where berth keeps each stack's files (asset copies, deployed images) on a host. */
export function appsDirectory(cfg: Pick<DeployConfig, "ssh">): string {
  return `${homeDirectory(cfg)}/.berth/apps`;
}

/** Where berth keeps this stack's files on a host. */
export function appDirectory(cfg: DeployConfig): string {
  return `${appsDirectory(cfg)}/${cfg.service}-${cfg.stack}`;
}

/** What a role's containers run, the same on every host, and the names it gives them. */
export interface RoleRun {
  /** 8 hex digits over everything below and the values of the secrets the containers get. */
  fingerprint: string;
  /** Docker name (and network alias): `<service>-<role>-<stack>-<version>-<fingerprint>`. */
  container: string;
  /** Berth secrets whose values the containers receive. */
  secretNames: string[];
  /** The plain part of what the fingerprint covers. */
  plain: Record<string, unknown>;
}

/**
 * Everything a role's containers run besides the version, which the names carry anyway: image
 * repository and build, command, env (secret values through the keyed fingerprint, see
 * config/stack.ts), the accessories' connection settings behind extra env such as DATABASE_URL,
 * labels, run options, logging, volumes, asset path and stop timeout. Host-specific inputs
 * (KAMAL_HOST, the host's generation label) stay out: they change only with the machine.
 */
export function roleRun(cfg: DeployConfig, role: Role, secrets: Secrets, extraEnv: string[] = []): RoleRun {
  const databases = cfg.accessories.filter((a) => a.postgres && a.postgres.databaseUrl !== false);
  const plain = {
    image: cfg.image,
    builder: cfg.builder ?? null,
    cmd: role.cmd ?? null,
    env: role.env.clear,
    secretEnv: role.env.secret,
    extraEnv: [...extraEnv].sort(),
    // What DATABASE_URL is made of (components/accessory.ts), but the server's assigned address.
    databases: databases.map((a) => ({
      name: a.name,
      hosts: a.hosts,
      address: databaseIsLocal(cfg, a) ? a.container : configuredAddress(cfg.hosts[a.hosts[0]]),
      port: a.port ?? null,
      user: a.postgres!.user,
      database: a.postgres!.database,
      variable: a.postgres!.databaseUrl,
      password: a.postgres!.passwordSecret,
    })),
    labels: role.labels,
    // Per-host env (tags) and labels, only when some host has them, so other stacks' names stay.
    ...(Object.keys(role.hostEnv).length ? { hostEnv: role.hostEnv } : {}),
    ...(Object.keys(role.hostLabels).length ? { hostLabels: role.hostLabels } : {}),
    options: role.options,
    logging: containerLogging(role.logging),
    volumes: cfg.volumes,
    // The asset copies' host directory moves with the SSH user's home.
    assets: role.proxy && cfg.assetPath ? { path: cfg.assetPath, hostDir: `${appDirectory(cfg)}/assets` } : null,
    stopTimeout: role.proxy?.drainTimeout ?? 30,
  };
  const secretNames = [
    ...Object.values(role.env.secret),
    ...Object.values(role.hostEnv).flatMap((env) => Object.values(env.secret)),
    ...(extraEnv.length ? databases.map((a) => a.postgres!.passwordSecret) : []),
  ];
  const fingerprint = secrets.fingerprint(plain, secretNames);
  return {
    fingerprint,
    container: containerName(cfg.service, role.name, cfg.stack, cfg.version, fingerprint),
    secretNames,
    plain,
  };
}

/**
 * Whether the app reaches a database accessory by its container name (every app host is the
 * database's host) rather than over the private network.
 */
export function databaseIsLocal(cfg: DeployConfig, acc: Accessory): boolean {
  return cfg.roles.flatMap((r) => r.hosts).every((h) => h === acc.hosts[0]);
}

/** A host's private address as configured; null when Hetzner assigns it. */
function configuredAddress(host: DeployConfig["hosts"][string]): string | null {
  return (host.kind === "cloud" ? host.privateIp : host.privateAddress) ?? null;
}

export interface RoleOutput {
  hosts: string[];
  container: string;
  proxied: boolean;
  /** While a host canary runs: the container of each host, some of them the canary's. */
  containers?: Record<string, string>;
}

/** A canary as the stack outputs describe it, for `berth rollout` and people. */
export interface CanaryOutput {
  version: string;
  strategy: "traffic" | "hosts";
  /** The split the rollout step sets (strategy traffic); `berth rollout set` changes it live. */
  percent: number;
  allowlist: string[];
  /** Per role running the canary: its kamal-proxy service, the canary container and its hosts. */
  roles: Record<string, { service: string; container: string; hosts: string[] }>;
}

export class App extends pulumi.ComponentResource {
  /** Per role: hosts, the current container name, whether it is proxied. */
  readonly roles: Record<string, RoleOutput> = {};
  /** Per role: what its containers run and the names that follow from it. */
  readonly runs: Record<string, RoleRun> = {};
  /** Versioned steps by logical name, for tests and for ordering later work after them. */
  readonly containers: Record<string, docker.Container> = {};
  /** Per role and host (`<app>-<role>-<host>-route`): the switch of kamal-proxy's route. */
  readonly routes: Record<string, command.remote.Command> = {};
  readonly hooks: Partial<Record<HookName, command.local.Command[]>> = {};
  /** The canary running now (berth:canary), if any. */
  readonly canary?: CanaryOutput;
  private beforeContainers: pulumi.Resource[] = [];
  private readonly config: DeployConfig;

  constructor(name: string, args: AppArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:app:App", name, {}, opts);
    const cfg = args.config;
    this.config = cfg;
    const child = { parent: this };
    const version = cfg.version;
    const vl = versionLabel(version);
    const image: pulumi.Input<string> = args.builtImage ?? imageRef(cfg.image, version);
    const imageOf = (v: string): pulumi.Input<string> => (v === version ? image : imageRef(cfg.image, v));
    // A canary (berth:canary) runs either alone on the hosts of a host canary, whose routes then
    // serve it, or beside the current version as kamal-proxy's rollout target of proxied roles.
    const canary = cfg.canary;
    const versionOn = (host: string) =>
      canary?.strategy === "hosts" && canary.hosts.includes(host) ? canary.version : version;
    const canaryBeside = (host: string, role: Role) =>
      canary?.strategy === "traffic" && !!role.proxy && (!canary.hosts.length || canary.hosts.includes(host));
    const hostsRunningApp = [...new Set(cfg.roles.flatMap((r) => r.hosts))];
    const rolesOn = (host: string) => cfg.roles.filter((r) => r.hosts.includes(host));
    const stateFile = `.berth/${cfg.stack}.deploy-started`;
    const addresses = (names: string[]) =>
      pulumi.all(names.map((h) => args.hosts[h].ipv4)).apply((ips) => ips.join(","));
    for (const role of cfg.roles)
      this.runs[role.name] = roleRun(cfg, role, args.secrets, Object.keys(args.extraEnv ?? {}));
    // What every per-deploy step (hooks, backups, prune, boot waits) runs again for: a new version,
    // or anything else a container runs (an env value, a secret, an option), as a new version would.
    // A canary is part of the release too: backups run before it starts (it may migrate).
    const release = [
      version,
      ...cfg.roles.map((r) => `${r.name}=${this.runs[r.name].fingerprint}`),
      ...(canary ? [`canary=${canary.version}`, `${canary.strategy}=${canary.hosts.join(",")}`] : []),
    ];

    const hookEnv = (extra: Record<string, pulumi.Input<string>>) => {
      const base: Record<string, pulumi.Input<string>> = {
        KAMAL_SERVICE: cfg.service,
        KAMAL_VERSION: version,
        KAMAL_SERVICE_VERSION: `${cfg.service}@${version.startsWith("sha256:") ? vl : version.slice(0, 7)}`,
        KAMAL_DESTINATION: cfg.stack,
        KAMAL_COMMAND: "deploy",
        KAMAL_LOCK: "false",
        KAMAL_ROLES: cfg.roles.map((r) => r.name).join(","),
        ...extra,
      };
      const berth = Object.fromEntries(Object.entries(base).map(([k, v]) => [k.replace(/^KAMAL_/, "BERTH_"), v]));
      return { ...base, ...berth, BERTH_STACK: cfg.stack };
    };
    const runHook = (
      hook: HookName,
      suffix: string,
      extra: Record<string, pulumi.Input<string>>,
      dependsOn: pulumi.Input<pulumi.Resource>[],
    ) => {
      const cmd = new command.local.Command(
        `${name}-${hook}${suffix}`,
        {
          create: hookScript(cfg.hooksPath, hook, stateFile),
          environment: hookEnv(extra),
          // Runs again on every deploy: a new release replaces it.
          triggers: release,
        },
        { ...child, dependsOn },
      );
      (this.hooks[hook] ??= []).push(cmd);
      return cmd;
    };

    const preDeploy = runHook(
      "pre-deploy",
      "",
      { KAMAL_HOSTS: addresses(hostsRunningApp) },
      args.build ? [args.build] : [],
    );

    // Part of the deploy, so versioned by trigger: a backup runs again on every new release.
    const backups = (args.backups ?? []).map(
      (b) =>
        new command.remote.Command(
          `${name}-${b.name}-backup`,
          { connection: b.host.connection, create: b.script, triggers: release, addPreviousOutputInEnv: false },
          { ...child, dependsOn: [preDeploy, ...b.dependsOn] },
        ),
    );
    this.beforeContainers = [...(args.beforeContainers ?? []), ...backups];

    // Every host pulls first, all at once, right after pre-deploy, as Kamal pulls on every host
    // before booting anything (basecamp/kamal lib/kamal/cli/main.rb deploy: build pull, then
    // app boot; cli/app.rb boot: boot groups after that). However many boot groups follow, a
    // deploy waits for one pull, and a failed pull stops it before any host switched.
    const pulls: Record<string, Record<string, docker.RemoteImage>> = {};
    for (const hostName of hostsRunningApp) {
      const host = args.hosts[hostName];
      const versions = new Set([versionOn(hostName)]);
      if (rolesOn(hostName).some((r) => canaryBeside(hostName, r))) versions.add(canary!.version);
      pulls[hostName] = {};
      for (const v of versions) {
        pulls[hostName][v] = new docker.RemoteImage(
          `${name}-${hostName}-${versionLabel(v)}-image`,
          // Kept on the host after this version leaves the program: rollbacks need no pull.
          { name: imageOf(v), keepLocally: true, triggers: { host: host.generation } },
          { ...child, provider: host.docker, dependsOn: [preDeploy, host.ready] },
        );
      }
    }

    let previous: pulumi.Resource[] = [preDeploy, ...Object.values(pulls).flatMap((p) => Object.values(p))];
    const groups = bootGroups(hostsRunningApp, cfg.boot.limit);
    groups.forEach((group, gi) => {
      const suffix = groups.length > 1 ? `-${gi + 1}` : "";
      const preBoot = runHook("pre-app-boot", suffix, { KAMAL_HOSTS: addresses(group) }, previous);
      const groupSteps: pulumi.Resource[] = [];
      for (const hostName of group) {
        const host = args.hosts[hostName];
        const hostSteps: pulumi.Resource[] = [];
        for (const role of rolesOn(hostName)) {
          const steps = this.deployRole(name, role, host, args, {
            version: versionOn(hostName),
            pulls: pulls[hostName],
            canary: canaryBeside(hostName, role) ? canary : undefined,
            preBoot,
          });
          hostSteps.push(...steps);
        }
        // After the host's switches: the deployed image is recorded on the host first, and the
        // images of the last `retainContainers` deploys stay for rollbacks without a pull.
        new command.remote.Command(
          `${name}-${hostName}-prune`,
          {
            connection: host.connection,
            create: pulumi.output(imageOf(versionOn(hostName))).apply((ref) =>
              pruneImagesScript({
                image: cfg.image,
                ref,
                keep: cfg.retainContainers,
                dir: appDirectory(cfg),
                appsRoot: appsDirectory(cfg),
              }),
            ),
            triggers: release,
            addPreviousOutputInEnv: false,
          },
          { ...child, dependsOn: hostSteps },
        );
        groupSteps.push(...hostSteps);
      }
      const postBoot = runHook("post-app-boot", suffix, { KAMAL_HOSTS: addresses(group) }, groupSteps);
      previous = [postBoot];
      if (cfg.boot.wait > 0 && gi < groups.length - 1) {
        previous = [
          new command.local.Command(
            `${name}-boot-wait${suffix}`,
            { create: `sleep ${cfg.boot.wait}`, triggers: release },
            { ...child, dependsOn: [postBoot] },
          ),
        ];
      }
    });
    if (cfg.verify?.command) {
      // The user's own check, once every host switched and passed its window.
      previous = [
        new command.local.Command(
          `${name}-verify`,
          {
            create: verifyCommandScript(cfg.verify.command),
            environment: hookEnv({ KAMAL_HOSTS: addresses(hostsRunningApp) }),
            triggers: release,
          },
          { ...child, dependsOn: previous },
        ),
      ];
    }
    runHook("post-deploy", "", { KAMAL_HOSTS: addresses(hostsRunningApp) }, previous);

    for (const role of cfg.roles) {
      const main = this.runs[role.name].container;
      const onHosts = Object.fromEntries(role.hosts.map((h) => [h, this.containerOf(role.name, versionOn(h))]));
      this.roles[role.name] = {
        hosts: role.hosts,
        container: main,
        proxied: role.proxy !== undefined,
        // Only while a host canary runs do a role's hosts run different containers.
        ...(Object.values(onHosts).some((c) => c !== main) ? { containers: onHosts } : {}),
      };
    }
    if (canary) {
      const roles = cfg.roles.filter((r) =>
        r.hosts.some((h) => (canary.strategy === "hosts" ? versionOn(h) !== version : canaryBeside(h, r))),
      );
      this.canary = {
        version: canary.version,
        strategy: canary.strategy,
        percent: canary.percent,
        allowlist: canary.allowlist,
        roles: Object.fromEntries(
          roles.map((r) => [
            r.name,
            {
              service: proxyService(cfg.service, r.name, cfg.stack),
              container: this.containerOf(r.name, canary.version),
              hosts: r.hosts.filter((h) =>
                canary.strategy === "hosts" ? versionOn(h) !== version : canaryBeside(h, r),
              ),
            },
          ]),
        ),
      };
    }
    this.registerOutputs({ roles: this.roles, canary: this.canary });
  }

  /** The docker name of a role's container for a version. */
  private containerOf(role: string, version: string): string {
    const cfg = this.config;
    return containerName(cfg.service, role, cfg.stack, version, this.runs[role].fingerprint);
  }

  /**
   * One role on one host: its container, then the proxy switch (and a canary beside it as
   * kamal-proxy's rollout target) or the readiness wait, then the checks after the switch.
   */
  private deployRole(
    name: string,
    role: Role,
    host: Host,
    args: AppArgs,
    d: { version: string; pulls: Record<string, docker.RemoteImage>; canary?: Canary; preBoot: pulumi.Resource },
  ): pulumi.Resource[] {
    const cfg = args.config;
    const child = { parent: this };
    const id = `${name}-${role.name}-${host.name}`;
    const proxy = args.proxies[host.name];
    const main = this.startContainer(name, role, host, args, d.version, d.pulls[d.version], d.preBoot);

    if (!role.proxy) {
      return [
        new command.remote.Command(
          `${id}-${versionLabel(d.version)}-ready`,
          {
            connection: host.connection,
            create: awaitRunningScript(main.name, cfg.readinessDelay, Math.max(60, cfg.readinessDelay * 4)),
            // A container created again (on a replaced server) is waited for again.
            triggers: [main.app.id],
            addPreviousOutputInEnv: false,
          },
          { ...child, dependsOn: [main.app] },
        ),
      ];
    }

    const service = proxyService(cfg.service, role.name, cfg.stack);
    const proxyDeps: pulumi.Resource[] = proxy ? [proxy.container] : [];
    // This stack's kamal-proxy, or the one a server stack runs on a shared host (berth:attach).
    const proxyId: pulumi.Input<string> = proxy ? proxy.container.id : (args.sharedProxies?.[host.name] ?? "");
    // A certificate kamal-proxy serves instead of a Let's Encrypt one, installed once per host
    // before the first switch that names it (the canary's rollout step follows the route).
    const certificate = role.proxy.certificate ? args.certificates?.[role.name] : undefined;
    if (certificate)
      proxyDeps.push(
        installCertificate(`${id}-certificate`, host, certificate, proxyId, {
          ...child,
          dependsOn: proxy ? [proxy.container] : [host.ready],
        }),
      );
    // One unversioned route per role and host. Its state records what it last switched kamal-proxy
    // to (a failed switch leaves the state as it was), so whenever the program's container differs
    // from that (a new version or fingerprint, a rollback after an update that failed after this
    // host's switch, a replaced server, a promoted canary) the step runs again, and it points
    // kamal-proxy at a container of this program, which this update never deletes. Its delete
    // removes the route.
    const route = new command.remote.Command(
      `${id}-route`,
      {
        connection: host.connection,
        create: pulumi.all([main.app.id, proxyId, certificate?.digest ?? ""]).apply(([containerId, pid, digest]) =>
          routeScript(service, main.name, role.proxy!, {
            container: containerId,
            proxy: pid || undefined,
            certificate: digest || undefined,
          }),
        ),
        delete: proxyRemoveScript(service),
        addPreviousOutputInEnv: false,
      },
      { ...child, dependsOn: [main.app, ...proxyDeps, ...main.beforeSwitch] },
    );
    this.routes[`${id}-route`] = route;
    new command.remote.Command(
      `${id}-maintenance`,
      {
        connection: host.connection,
        create: maintenanceScript(service, cfg.maintenance.enabled, role.proxy.drainTimeout, cfg.maintenance.message),
        // While on, re-applied after every switch so a new container stays behind the maintenance page.
        triggers: [
          cfg.maintenance.enabled,
          cfg.maintenance.message ?? "",
          ...(cfg.maintenance.enabled ? [main.name] : []),
        ],
        addPreviousOutputInEnv: false,
      },
      { ...child, dependsOn: [route] },
    );
    const steps: pulumi.Resource[] = [route];

    let canary: StartedContainer | undefined;
    if (d.canary) {
      const split = d.canary;
      const beside = this.startContainer(name, role, host, args, split.version, d.pulls[split.version], d.preBoot);
      canary = beside;
      // One unversioned rollout step per role and host, like the route: it re-runs whenever the
      // canary container, kamal-proxy or the split changes, and its delete (the canary removed:
      // promoted or aborted) stops the split, before the canary container is deleted.
      const rollout = new command.remote.Command(
        `${id}-rollout`,
        {
          connection: host.connection,
          create: pulumi.all([beside.app.id, proxyId]).apply(([containerId, pid]) =>
            rolloutScript(service, beside.name, role.proxy!, split, {
              container: containerId,
              proxy: pid || undefined,
            }),
          ),
          delete: rolloutStopScript(service),
          addPreviousOutputInEnv: false,
        },
        { ...child, dependsOn: [route, beside.app, ...proxyDeps, ...beside.beforeSwitch] },
      );
      this.routes[`${id}-rollout`] = rollout;
      steps.push(rollout);
    }

    const verify = cfg.verify;
    if (verify) {
      const p = role.proxy;
      steps.push(
        new command.remote.Command(
          `${id}-verify`,
          {
            connection: host.connection,
            // The ids of what it checks: a new switch or rollout target is verified again.
            create: pulumi.all([main.app.id, canary ? canary.app.id : ""]).apply(([mainId, canaryId]) =>
              verifyScript(
                { ...verify, path: verify.path ?? p.healthcheck.path },
                {
                  service,
                  hosts: p.hosts,
                  ssl: p.ssl,
                  pathPrefix: p.pathPrefixes[0],
                  appPort: p.appPort,
                  containers: [main.name, ...(canary ? [canary.name] : [])],
                  canaryCookie: d.canary?.allowlist[0],
                  ids: [mainId, ...(canaryId ? [canaryId] : [])],
                },
              ),
            ),
            addPreviousOutputInEnv: false,
          },
          { ...child, dependsOn: [...steps] },
        ),
      );
    }
    return steps;
  }

  /** A role's container for a version on a host, with its asset copy when the role serves assets. */
  private startContainer(
    name: string,
    role: Role,
    host: Host,
    args: AppArgs,
    version: string,
    pulled: docker.RemoteImage,
    preBoot: pulumi.Resource,
  ): StartedContainer {
    const cfg = args.config;
    const child = { parent: this };
    const vl = versionLabel(version);
    const id = `${name}-${role.name}-${host.name}`;
    const run = this.runs[role.name];
    const container = this.containerOf(role.name, version);
    const proxy = args.proxies[host.name];
    const env = role.hostEnv[host.name] ?? role.env;
    // Steps the switch waits for besides the container; asset copying runs beside the container start.
    const beforeSwitch: pulumi.Resource[] = [];

    const volumes = cfg.volumes.map(containerVolume);
    if (cfg.assetPath && role.proxy) {
      const assetArgs = {
        dir: `${appDirectory(cfg)}/assets`,
        role: role.name,
        version,
        assetPath: cfg.assetPath,
        keep: cfg.retainContainers,
      };
      beforeSwitch.push(
        new command.remote.Command(
          `${id}-${vl}-assets`,
          {
            connection: host.connection,
            // The image as the host has it (its id): with berth:builder only the pushed digest was
            // pulled, and the host has no registry login to pull anything itself.
            create: pulled.imageId.apply((imageId) => assetScript({ ...assetArgs, image: imageId })),
            triggers: [host.generation],
            addPreviousOutputInEnv: false,
          },
          { ...child, dependsOn: [pulled] },
        ),
      );
      volumes.push({ hostPath: assetVolumeDir(assetArgs), containerPath: cfg.assetPath, readOnly: false });
    }

    const envs: pulumi.Input<string>[] = [
      ...Object.entries(env.clear).map(([k, v]) => `${k}=${v}`),
      `KAMAL_CONTAINER_NAME=${container}`,
      `KAMAL_VERSION=${version}`,
      `KAMAL_HOST=${host.name}`,
      `KAMAL_DESTINATION=${cfg.stack}`,
      `BERTH_STACK=${cfg.stack}`,
      `BERTH_ROLE=${role.name}`,
      ...Object.entries(env.secret).map(([k, secret]) => pulumi.interpolate`${k}=${args.secrets.get(secret)}`),
      ...Object.entries(args.extraEnv ?? {}).map(([k, v]) => pulumi.secret(pulumi.interpolate`${k}=${v}`)),
    ];
    const app = new docker.Container(
      `${id}-${vl}-${run.fingerprint}`,
      {
        name: container,
        image: pulled.imageId,
        command: role.cmd,
        restart: "unless-stopped",
        envs,
        // berth's own labels last: the CLI finds containers by them (the schema refuses user
        // labels of these names, too).
        labels: Object.entries({
          ...role.labels,
          ...role.hostLabels[host.name],
          service: cfg.service,
          role: role.name,
          destination: cfg.stack,
          [VERSION_LABEL]: version,
        })
          .map(([label, value]): docker.types.input.ContainerLabel => ({ label, value }))
          .concat([{ label: "berth.host-generation", value: host.generation }]),
        networksAdvanced: [{ name: DOCKER_NETWORK, aliases: [container] }],
        volumes,
        ...containerLogging(role.logging),
        ...containerOptionInputs(role.options),
        // Stopping the old version gives in-flight work the drain timeout to finish.
        destroyGraceSeconds: role.proxy?.drainTimeout ?? 30,
        stopTimeout: role.proxy?.drainTimeout ?? 30,
      },
      {
        ...child,
        provider: host.docker,
        // The boot group's turn (pre-app-boot), what the host restores before the app's first
        // container (Litestream), and the accessories the app talks to.
        dependsOn: [
          pulled,
          preBoot,
          ...(proxy ? [proxy.container] : []),
          ...(args.beforeApp?.[host.name] ?? []),
          ...this.beforeContainers,
        ],
      },
    );
    this.containers[`${id}-${vl}-${run.fingerprint}`] = app;
    return { app, name: container, beforeSwitch };
  }
}

interface StartedContainer {
  app: docker.Container;
  /** Its docker name. */
  name: string;
  /** What its switch waits for besides it (the asset copy). */
  beforeSwitch: pulumi.Resource[];
}
