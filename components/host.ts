// One machine of the stack: a Hetzner Cloud server berth creates, or an existing machine it
// is given. Either way the host ends in a readiness gate every container on it waits for.
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as hcloud from "@pulumi/hcloud";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { HostConfig, LOCATIONS, usableHostKey } from "../config/schema";
import { cloudInit } from "./bootstrap";
import { hetznerVolumeDevice, mountScript, readinessScript } from "./commands/host";
import { Platform } from "./platform";
import { dockerSshOptions, knownHostsLine } from "./ssh";

export interface SshSettings {
  user: string;
  port: number;
  publicKey: string;
  /** Private key for berth's own SSH steps; without it the running ssh-agent is used. */
  privateKey?: pulumi.Output<string>;
  /** The same key as a file for the docker provider's ssh (see components/ssh.ts). */
  identityFile?: pulumi.Input<string>;
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
  /** Hetzner name of the server: serverName(service, stack, host). */
  serverName: string;
}

/**
 * Server inputs a running server must never be replaced for. cloud-init only runs on first
 * boot, so a new bootstrap, image or key set applies to new servers. Pulumi keeps the stored
 * value of an ignored input even for a replacement (pulumi/pulumi pkg/resource/deploy/
 * step_generator.go, processIgnoreChanges), so `pulumi up --replace` rebuilds a server as it
 * was created; `replace: rebuild` lifts the list to rebuild one from today's values.
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
  /** The host key berth verifies the host with, `type key`. */
  hostKey: pulumi.Output<string>;
}

export class Host extends pulumi.ComponentResource {
  readonly name: string;
  readonly config: HostConfig;
  readonly server?: hcloud.Server;
  readonly ipv4: pulumi.Output<string>;
  readonly ipv6: pulumi.Output<string | undefined>;
  readonly privateIp: pulumi.Output<string>;
  readonly sshTarget: pulumi.Output<string>;
  /** The host key (`type key`) every SSH connection to this host verifies, known in advance. */
  readonly hostKey: pulumi.Output<string>;
  /** This host's line of the stack's `knownHosts` output. */
  readonly knownHost: pulumi.Output<string>;
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
    let generatedHostKey: pulumi.Output<string> | undefined;

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
      // Primary IPs outlive their server: a replacement gets the same addresses. They are
      // assigned through the server's publicNets; an assigneeType without assigneeId only earns
      // the provider's "Unused Attribute" warning (terraform-provider-hcloud internal/primaryip/
      // resource.go, ValidateConfig).
      const primaryIp = (type: "ipv4" | "ipv6") =>
        new hcloud.PrimaryIp(
          `${name}-${type}`,
          { name: `${args.prefix}-${name}-${type}`, type, autoDelete: false, location: host.location, labels },
          keep,
        );
      const ipv4 = primaryIp("ipv4");
      const ipv6 = primaryIp("ipv6");
      // The server's SSH host key, made here and installed by cloud-init, so the first connection
      // to a new server (or to a recycled address) is verified, never trusted on first use. Its
      // private half stays a secret in state; Hetzner's metadata service serves it to the server.
      const generatedKey = new tls.PrivateKey(`${name}-host-key`, { algorithm: "ED25519" }, child);
      generatedHostKey = generatedKey.publicKeyOpenssh.apply((k) => k.trim().split(/\s+/).slice(0, 2).join(" "));
      const userData = pulumi.secret(
        pulumi.all([generatedKey.privateKeyOpenssh, generatedHostKey]).apply(([privateKey, publicKey]) =>
          cloudInit({
            sshUser: args.ssh.user,
            sshPort: args.ssh.port,
            publicKey: args.ssh.publicKey,
            hostKey: { privateKey, publicKey },
          }),
        ),
      );
      const placement = args.placementRole ? platform.placementGroups[args.placementRole] : undefined;
      const zone = platform.networks[LOCATIONS[host.location]];
      if (!zone) throw new Error(`host ${name}: no private network in ${LOCATIONS[host.location]}`);
      // Deliberate replacement only (berth:hosts.<name>.replace): the protection is lifted, and for
      // `rebuild` today's bootstrap, image and key are used instead of the stored ones.
      const locked = host.stateful && !host.replace;
      this.server = new hcloud.Server(
        `${name}-server`,
        {
          name: args.serverName,
          serverType: host.serverType,
          location: host.location,
          image: host.image,
          sshKeys: [platform.sshKey],
          userData,
          // Tells the policy pack the server is unprotected on purpose, for a replacement.
          labels: host.replace ? { ...labels, "berth-replace": host.replace } : labels,
          firewallIds: [platform.firewall.id.apply(Number)],
          placementGroupId: placement?.id.apply(Number),
          publicNets: [
            { ipv4Enabled: true, ipv4: ipv4.id.apply(Number), ipv6Enabled: true, ipv6: ipv6.id.apply(Number) },
          ],
          networks: [{ networkId: zone.network.id.apply(Number), ip: host.privateIp }],
          deleteProtection: locked,
          rebuildProtection: locked,
        },
        {
          ...child,
          protect: locked,
          ignoreChanges: host.replace === "rebuild" ? [] : SERVER_IGNORE_CHANGES,
          // The name is unique in the Hetzner project and the primary IPs can be assigned to one
          // server only: the old server must go before its replacement is created.
          deleteBeforeReplace: true,
          dependsOn: [zone.subnet],
        },
      );
      serverId = this.server.id;
      this.ipv4 = ipv4.ipAddress;
      this.ipv6 = this.server.ipv6Address;
      // A configured address is known without the server: what reads it (the apps' DATABASE_URL)
      // then does not change, nor get replaced with it, when the server is replaced.
      this.privateIp = host.privateIp
        ? pulumi.output(host.privateIp)
        : this.server.networks.apply((nets) => nets?.[0]?.ip ?? "");
    } else {
      serverId = host.address;
      this.ipv4 = pulumi.output(host.address);
      this.ipv6 = pulumi.output(host.ipv6);
      this.privateIp = pulumi.output(host.privateAddress);
    }
    // A pinned key wins (an existing machine, or a server created before berth made host keys),
    // except for a server being rebuilt, which boots with the generated one.
    const pinned = host.kind === "cloud" && host.replace === "rebuild" ? undefined : usableHostKey(host.hostKeys);
    this.hostKey = pinned ? pulumi.output(pinned) : generatedHostKey!;
    this.knownHost = pulumi.all([this.ipv4, this.hostKey]).apply(([ip, key]) => knownHostsLine(ip, args.ssh.port, key));

    this.connection = {
      host: this.ipv4,
      port: args.ssh.port,
      user: args.ssh.user,
      privateKey: args.ssh.privateKey,
      // Without it the command provider accepts any host key.
      hostKey: this.hostKey,
      // A new server refuses connections until sshd is up: keep dialling for a few minutes.
      dialErrorLimit: 40,
      perDialTimeout: 15,
    };
    this.sshTarget = pulumi.interpolate`ssh://${args.ssh.user}@${this.ipv4}:${args.ssh.port}`;

    this.ready = new command.remote.Command(
      `${name}-ready`,
      {
        connection: this.connection,
        create: readinessScript(name),
        // An attached host (berth:attach) is gated again when the server stack's machine changes.
        triggers: host.kind === "existing" && host.attached ? [serverId, host.attached.generation] : [serverId],
        // On by default, it sends the last output as variables sshd refuses (AcceptEnv), with a
        // warning on every update (pulumi-command provider/pkg/provider/remote/commandOutputs.go).
        addPreviousOutputInEnv: false,
      },
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
          // Deleting the server detaches its volumes. When the server is replaced delete-first, its
          // attachment is not detached on its own first: if Hetzner refused to delete the server,
          // the volume stays attached under its running database.
          { ...child, deletedWith: this.server },
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
        sshOpts: pulumi
          .all([this.knownHost, args.ssh.identityFile])
          .apply(([line, identityFile]) => dockerSshOptions({ knownHostsLine: line, identityFile })),
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
      hostKey: this.hostKey,
    };
    this.registerOutputs({ ipv4: this.ipv4, ipv6: this.ipv6, privateIp: this.privateIp, ssh: this.sshTarget });
  }
}
