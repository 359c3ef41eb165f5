// The Hetzner pieces every server of a stack shares: SSH key, firewall, private network and
// one spread placement group per role.
import * as hcloud from "@pulumi/hcloud";
import * as pulumi from "@pulumi/pulumi";
import { LOCATIONS, Location } from "../config/schema";

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
  /** Location of the first Hetzner Cloud host: the network zone follows from it. */
  location: Location;
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
  readonly network: hcloud.Network;
  readonly subnet: hcloud.NetworkSubnet;
  readonly placementGroups: Record<string, hcloud.PlacementGroup>;
  readonly networkZone: string;

  constructor(name: string, args: PlatformArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:platform:Platform", name, {}, opts);
    const child = { parent: this };
    this.networkZone = LOCATIONS[args.location];

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
    this.network = new hcloud.Network(
      `${name}-network`,
      { name: args.prefix, ipRange: args.ipRange, labels: args.labels },
      child,
    );
    this.subnet = new hcloud.NetworkSubnet(
      `${name}-subnet`,
      {
        networkId: this.network.id.apply(Number),
        type: "cloud",
        networkZone: this.networkZone,
        ipRange: args.subnet,
      },
      child,
    );
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
