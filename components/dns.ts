// A and AAAA records in Hetzner DNS for every public host name of the app.
import * as hcloud from "@pulumi/hcloud";
import * as pulumi from "@pulumi/pulumi";

export interface DnsArgs {
  zone: string;
  createZone: boolean;
  ttl: number;
  hosts: string[];
  labels: Record<string, string>;
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

/**
 * The zone is set up in the constructor and the records by `point`, because the load
 * balancer's certificate needs the zone and the records need the load balancer's addresses.
 */
export class Dns extends pulumi.ComponentResource {
  readonly zone?: hcloud.Zone;
  readonly zoneName: pulumi.Output<string>;
  readonly records: DnsRecordOutput[] = [];
  private readonly args: DnsArgs;
  private readonly baseName: string;

  constructor(name: string, args: DnsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:dns:Dns", name, {}, opts);
    this.args = args;
    this.baseName = name;
    const child = { parent: this };
    if (args.createZone) {
      // Every record of the domain lives in the zone, not only berth's: never delete it by accident.
      this.zone = new hcloud.Zone(
        `${name}-zone`,
        { name: args.zone, mode: "primary", ttl: args.ttl, deleteProtection: true, labels: args.labels },
        { ...child, protect: true },
      );
      this.zoneName = this.zone.name;
    } else {
      this.zoneName = pulumi.output(args.zone);
    }
  }

  /** Creates A (and AAAA) records for every public host name, pointing at `target`. */
  point(target: DnsTarget): void {
    const args = this.args;
    const child = { parent: this };
    const ipv4 = pulumi.all(target.ipv4);
    const families: ["A" | "AAAA", pulumi.Output<string[]>][] = [["A", ipv4]];
    if (target.ipv6) {
      families.push(["AAAA", pulumi.all(target.ipv6).apply((ips) => ips.filter((ip): ip is string => !!ip))]);
    }
    for (const host of args.hosts) {
      const rel = recordName(host, args.zone);
      for (const [type, values] of families) {
        new hcloud.ZoneRrset(
          `${this.baseName}-${host}-${type.toLowerCase()}`,
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
