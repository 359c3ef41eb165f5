// One machine of the stack: a Hetzner Cloud server berth creates, or an existing machine it
// is given. Either way the host ends in a readiness gate every container on it waits for.
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as hcloud from "@pulumi/hcloud";
import * as pulumi from "@pulumi/pulumi";
import { HostConfig } from "../config/schema";
import { cloudInit, hetznerVolumeDevice, mountScript, readinessScript } from "./bootstrap";
import { Platform } from "./platform";

export interface SshSettings {
  user: string;
  port: number;
  publicKey: string;
  /** Private key for berth's own SSH steps; without it the running ssh-agent is used. */
  privateKey?: pulumi.Output<string>;
}

export interface HostArgs {
  config: HostConfig;
  /** Prefix of Hetzner resource names: `<service>-<stack>`. */
  prefix: string;
  labels: Record<string, string>;
  roles: string[];
  ssh: SshSettings;
  /** Shared Hetzner pieces; required for Hetzner Cloud hosts. */
  platform?: Platform;
  /** The role whose placement group this server joins (a server is in at most one). */
  placementRole?: string;
  /** Credentials the host's docker provider pulls private images with. */
  registryAuth?: { address: string; username: string; password: pulumi.Output<string> };
}

/**
 * Server inputs a running server must never be replaced for. cloud-init only runs on first
 * boot, so a new bootstrap, image or key set applies to new servers; rebuild one on purpose
 * with `pulumi up --replace <urn>`.
 */
export const SERVER_IGNORE_CHANGES = ["userData", "image", "sshKeys"];

/** What later tools (the operations CLI, DNS, load balancer) need to know of a host. */
export interface HostOutputs {
  name: string;
  kind: "cloud" | "existing";
  roles: string[];
  ipv4: pulumi.Output<string>;
  ipv6: pulumi.Output<string | undefined>;
  privateIp: pulumi.Output<string>;
  /** `ssh://user@address:port`, usable with `ssh` and as a docker host. */
  ssh: pulumi.Output<string>;
}

export class Host extends pulumi.ComponentResource {
  readonly name: string;
  readonly config: HostConfig;
  readonly server?: hcloud.Server;
  readonly ipv4: pulumi.Output<string>;
  readonly ipv6: pulumi.Output<string | undefined>;
  readonly privateIp: pulumi.Output<string>;
  readonly sshTarget: pulumi.Output<string>;
  readonly connection: command.types.input.remote.ConnectionArgs;
  /** Completes once cloud-init finished and Docker answers; containers depend on it. */
  readonly ready: command.remote.Command;
  /**
   * Changes when the machine behind the host changes (a replaced server). Containers and image
   * pulls carry it, so they are created again on a new machine instead of being assumed there.
   */
  readonly generation: pulumi.Output<string>;
  /** Volume mounts; accessories that keep data on a volume depend on them. */
  readonly mounts: Record<string, { path: string; volume: hcloud.Volume; command: command.remote.Command }>;
  readonly docker: docker.Provider;
  readonly outputs: HostOutputs;

  constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:host:Host", name, {}, opts);
    const child = { parent: this };
    const host = args.config;
    this.name = name;
    this.config = host;
    this.mounts = {};
    let serverId: pulumi.Input<string>;

    if (host.kind === "cloud") {
      const platform = args.platform;
      if (!platform) throw new Error(`host ${name}: a Hetzner Cloud host needs the platform resources`);
      // The label lets policies and audits tell a data-holding server (and its addresses) from a
      // replaceable one without knowing berth's config.
      const labels = {
        ...host.labels,
        ...args.labels,
        "berth-host": name,
        ...(host.stateful ? { "berth-stateful": "true" } : {}),
      };
      const keep = { ...child, protect: host.stateful };
      const ipv4 = new hcloud.PrimaryIp(
        `${name}-ipv4`,
        {
          name: `${args.prefix}-${name}-ipv4`,
          type: "ipv4",
          assigneeType: "server",
          autoDelete: false,
          location: host.location,
          labels,
        },
        keep,
      );
      const ipv6 = new hcloud.PrimaryIp(
        `${name}-ipv6`,
        {
          name: `${args.prefix}-${name}-ipv6`,
          type: "ipv6",
          assigneeType: "server",
          autoDelete: false,
          location: host.location,
          labels,
        },
        keep,
      );
      const placement = args.placementRole ? platform.placementGroups[args.placementRole] : undefined;
      this.server = new hcloud.Server(
        `${name}-server`,
        {
          name,
          serverType: host.serverType,
          location: host.location,
          image: host.image,
          sshKeys: [platform.sshKey.id],
          userData: cloudInit({ sshUser: args.ssh.user, sshPort: args.ssh.port, publicKey: args.ssh.publicKey }),
          labels,
          firewallIds: [platform.firewall.id.apply(Number)],
          placementGroupId: placement?.id.apply(Number),
          publicNets: [
            { ipv4Enabled: true, ipv4: ipv4.id.apply(Number), ipv6Enabled: true, ipv6: ipv6.id.apply(Number) },
          ],
          networks: [{ networkId: platform.network.id.apply(Number), ip: host.privateIp }],
          deleteProtection: host.stateful,
          rebuildProtection: host.stateful,
        },
        { ...keep, ignoreChanges: SERVER_IGNORE_CHANGES, dependsOn: [platform.subnet] },
      );
      serverId = this.server.id;
      this.ipv4 = ipv4.ipAddress;
      this.ipv6 = this.server.ipv6Address;
      this.privateIp = this.server.networks.apply((nets) => nets?.[0]?.ip ?? host.privateIp ?? "");
    } else {
      serverId = host.address;
      this.ipv4 = pulumi.output(host.address);
      this.ipv6 = pulumi.output(host.ipv6);
      this.privateIp = pulumi.output(host.privateAddress);
    }

    this.connection = {
      host: this.ipv4,
      port: args.ssh.port,
      user: args.ssh.user,
      privateKey: args.ssh.privateKey,
      // A new server refuses connections until sshd is up: keep dialling for a few minutes.
      dialErrorLimit: 40,
      perDialTimeout: 15,
    };
    this.sshTarget = pulumi.interpolate`ssh://${args.ssh.user}@${this.ipv4}:${args.ssh.port}`;

    this.ready = new command.remote.Command(
      `${name}-ready`,
      { connection: this.connection, create: readinessScript(name), triggers: [serverId] },
      child,
    );
    this.generation = this.ready.id;

    if (host.kind === "cloud") {
      for (const [volumeName, vol] of Object.entries(host.volumes)) {
        const volume = new hcloud.Volume(
          `${name}-${volumeName}-volume`,
          {
            name: `${args.prefix}-${name}-${volumeName}`,
            size: vol.size,
            format: vol.format,
            location: host.location,
            automount: false,
            labels: { ...args.labels, "berth-host": name, "berth-volume": volumeName },
          },
          // Data outlives config: a volume is never deleted or replaced by `pulumi up`.
          { ...child, protect: true, retainOnDelete: true },
        );
        const attachment = new hcloud.VolumeAttachment(
          `${name}-${volumeName}-attachment`,
          { serverId: this.server!.id.apply(Number), volumeId: volume.id.apply(Number), automount: false },
          child,
        );
        const mount = new command.remote.Command(
          `${name}-${volumeName}-mount`,
          {
            connection: this.connection,
            create: volume.id.apply((volumeId) =>
              mountScript({
                host: name,
                volume: volumeName,
                device: hetznerVolumeDevice(volumeId),
                format: vol.format,
                mountPath: vol.mountPath,
              }),
            ),
            // A replaced server is a new machine: mount again there, before any container uses the path.
            triggers: [this.ready.id],
            addPreviousOutputInEnv: false,
          },
          { ...child, dependsOn: [attachment, this.ready] },
        );
        this.mounts[volumeName] = { path: vol.mountPath, volume, command: mount };
      }
    }

    this.docker = new docker.Provider(
      `${name}-docker`,
      {
        host: this.sshTarget,
        registryAuth: args.registryAuth ? [args.registryAuth] : undefined,
        sshOpts: ["-o", "StrictHostKeyChecking=accept-new", "-o", "ServerAliveInterval=30"],
      },
      { ...child, dependsOn: [this.ready] },
    );

    this.outputs = {
      name,
      kind: host.kind,
      roles: args.roles,
      ipv4: this.ipv4,
      ipv6: this.ipv6,
      privateIp: this.privateIp,
      ssh: this.sshTarget,
    };
    this.registerOutputs({ ipv4: this.ipv4, ipv6: this.ipv6, privateIp: this.privateIp, ssh: this.sshTarget });
  }
}
