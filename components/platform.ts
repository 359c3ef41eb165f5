// The Hetzner pieces every server of a stack shares: SSH key, firewall, a private network per
// network zone and one spread placement group per role.
import * as hcloud from "@pulumi/hcloud";
import * as pulumi from "@pulumi/pulumi";
import { NetworkZone } from "../config/schema";

export interface PlatformArgs {
  /** Prefix of Hetzner resource names: `<service>-<stack>`. */
  prefix: string;
  labels: Record<string, string>;
  publicKey: string;
  /** An SSH key already in the Hetzner project, by name: used instead of registering publicKey. */
  hetznerKeyName?: string;
  sshPort: number;
  sshAllowFrom: string[];
  ipRange: string;
  subnet: string;
  /** The zone whose network keeps the names `<prefix>` (the stack's first network). */
  homeZone: NetworkZone;
  /** Every network zone with a Hetzner Cloud host of the stack. */
  zones: NetworkZone[];
  /** Roles that have Hetzner Cloud hosts and so get a placement group. */
  roles: string[];
}

const ANYWHERE = ["0.0.0.0/0", "::/0"];

/** Inbound rules: SSH from the configured ranges, HTTP and HTTPS from anywhere, nothing else. */
export function firewallRules(sshPort: number, sshAllowFrom: string[]): hcloud.types.input.FirewallRule[] {
  return [
    { direction: "in", protocol: "tcp", port: String(sshPort), sourceIps: sshAllowFrom, description: "SSH" },
    { direction: "in", protocol: "tcp", port: "80", sourceIps: ANYWHERE, description: "HTTP" },
    { direction: "in", protocol: "tcp", port: "443", sourceIps: ANYWHERE, description: "HTTPS" },
  ];
}

export class Platform extends pulumi.ComponentResource {
  /** The Hetzner SSH key new servers get, by id or name (the API takes either). */
  readonly sshKey: pulumi.Input<string>;
  readonly firewall: hcloud.Firewall;
  /** The home zone's network and subnet. */
  readonly network: hcloud.Network;
  readonly subnet: hcloud.NetworkSubnet;
  /** Network and subnet per zone: a Hetzner network lives in one network zone. */
  readonly networks: Partial<Record<NetworkZone, { network: hcloud.Network; subnet: hcloud.NetworkSubnet }>> = {};
  readonly placementGroups: Record<string, hcloud.PlacementGroup>;
  readonly networkZone: NetworkZone;

  constructor(name: string, args: PlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:platform:Platform", name, {}, opts);
    const child = { parent: this };
    this.networkZone = args.homeZone;

    // Hetzner accepts a public key once per project: stacks sharing one name it instead.
    this.sshKey =
      args.hetznerKeyName ??
      new hcloud.SshKey(`${name}-ssh-key`, { name: args.prefix, publicKey: args.publicKey, labels: args.labels }, child)
        .id;
    this.firewall = new hcloud.Firewall(
      `${name}-firewall`,
      { name: args.prefix, labels: args.labels, rules: firewallRules(args.sshPort, args.sshAllowFrom) },
      child,
    );
    // The home zone keeps the names a single-zone stack always had; another zone's are suffixed.
    for (const zone of [args.homeZone, ...args.zones.filter((z) => z !== args.homeZone)]) {
      const home = zone === args.homeZone;
      const id = home ? name : `${name}-${zone}`;
      const network = new hcloud.Network(
        `${id}-network`,
        { name: home ? args.prefix : `${args.prefix}-${zone}`, ipRange: args.ipRange, labels: args.labels },
        child,
      );
      const subnet = new hcloud.NetworkSubnet(
        `${id}-subnet`,
        { networkId: network.id.apply(Number), type: "cloud", networkZone: zone, ipRange: args.subnet },
        child,
      );
      this.networks[zone] = { network, subnet };
    }
    this.network = this.networks[args.homeZone]!.network;
    this.subnet = this.networks[args.homeZone]!.subnet;
    this.placementGroups = Object.fromEntries(
      args.roles.map((role) => [
        role,
        new hcloud.PlacementGroup(
          `${name}-${role}-spread`,
          { name: `${args.prefix}-${role}`, type: "spread", labels: { ...args.labels, "berth-role": role } },
          child,
        ),
      ]),
    );

    this.registerOutputs({ networkId: this.network.id, firewallId: this.firewall.id });
  }
}
