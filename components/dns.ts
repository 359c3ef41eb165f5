// The app's zone in Hetzner DNS (when berth creates it) and A and AAAA records in it for every
// public host name of the app.
import * as hcloud from "@pulumi/hcloud";
import * as pulumi from "@pulumi/pulumi";

const DNS_TYPE = "berth:dns:Dns";

export interface DnsZoneArgs {
  zone: string;
  ttl: number;
  labels: Record<string, string>;
}

/**
 * The zone berth:dns.createZone asks for. It stands apart from the records because the load
 * balancer's certificate needs the zone before the records can point at the load balancer.
 */
export function dnsZone(name: string, args: DnsZoneArgs): hcloud.Zone {
  // Every record of the domain lives in the zone, not only berth's: never delete it by accident.
  return new hcloud.Zone(
    `${name}-zone`,
    { name: args.zone, mode: "primary", ttl: args.ttl, deleteProtection: true, labels: args.labels },
    {
      protect: true,
      // Stacks created before the zone stood apart hold it as a child of the Dns component of the
      // same name; the alias keeps it there instead of a delete and a new zone. Should Dns itself
      // ever be renamed, this alias must name its old URN too: the zone registers before Dns, so
      // the engine cannot follow Dns's own alias here.
      aliases: [{ parent: pulumi.createUrn(name, DNS_TYPE) }],
    },
  );
}

export interface DnsArgs {
  /** The zone's name: the domain the host names belong to. */
  zone: string;
  /** The zone resource when berth manages it: the records wait for it. */
  managedZone?: hcloud.Zone;
  ttl: number;
  hosts: string[];
  labels: Record<string, string>;
  /** What the host names point at. */
  target: DnsTarget;
}

export interface DnsTarget {
  ipv4: pulumi.Input<string>[];
  /** Leave out when a target has no public IPv6 address: no AAAA records then. */
  ipv6?: pulumi.Input<string | undefined>[];
}

/** Name of a record relative to its zone: `@` for the apex, `www` for www.example.com. */
export function recordName(host: string, zone: string): string {
  return host === zone ? "@" : host.slice(0, -(zone.length + 1));
}

export interface DnsRecordOutput {
  name: string;
  type: "A" | "AAAA";
  values: pulumi.Output<string[]>;
}

/** A (and AAAA) records for every public host name, pointing at the target. */
export class Dns extends pulumi.ComponentResource {
  readonly zoneName: pulumi.Output<string>;
  readonly records: DnsRecordOutput[] = [];

  constructor(name: string, args: DnsArgs, opts?: pulumi.ComponentResourceOptions) {
    super(DNS_TYPE, name, {}, opts);
    const child = { parent: this };
    this.zoneName = args.managedZone ? args.managedZone.name : pulumi.output(args.zone);
    const ipv4 = pulumi.all(args.target.ipv4);
    const families: ["A" | "AAAA", pulumi.Output<string[]>][] = [["A", ipv4]];
    if (args.target.ipv6) {
      families.push(["AAAA", pulumi.all(args.target.ipv6).apply((ips) => ips.filter((ip): ip is string => !!ip))]);
    }
    for (const host of args.hosts) {
      const rel = recordName(host, args.zone);
      for (const [type, values] of families) {
        new hcloud.ZoneRrset(
          `${name}-${host}-${type.toLowerCase()}`,
          {
            zone: this.zoneName,
            name: rel,
            type,
            ttl: args.ttl,
            records: values.apply((ips) => ips.map((value) => ({ value }))),
            labels: args.labels,
          },
          child,
        );
        this.records.push({ name: host, type, values });
      }
    }
    this.registerOutputs({ zone: this.zoneName, records: this.records.map((r) => r.values) });
  }
}
