// The Hetzner load balancer in front of a web role with several hosts: TLS with a managed
// Let's Encrypt certificate, HTTP redirected to HTTPS, plain HTTP to kamal-proxy on the hosts
// over the private network.
import * as crypto from "node:crypto";
import * as hcloud from "@pulumi/hcloud";
import * as pulumi from "@pulumi/pulumi";
import { LOCATIONS, Location } from "../config/schema";
import { Host } from "./host";
import { Platform } from "./platform";

export interface LoadBalancerArgs {
  prefix: string;
  labels: Record<string, string>;
  type: string;
  algorithm: "round_robin" | "least_connections";
  location: Location;
  /** Public host names: the certificate's domains and the health check's Host header. */
  domains: string[];
  healthPath: string;
  /** The private network the targets are reached over; absent when no host is a Hetzner Cloud server. */
  platform?: Platform;
  targets: Host[];
  /** The zone must exist in Hetzner DNS before Hetzner can issue the certificate. */
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * Name of the managed certificate for a list of domains. Its domains cannot change in place
 * (domain_names is ForceNew in terraform-provider-hcloud internal/certificate/resource.go), so a
 * new list means a new certificate, created before the listener moves to it and the old one is
 * deleted; names are unique per Hetzner project, so the name follows the list.
 */
export function certificateName(prefix: string, domains: string[]): string {
  return `${prefix}-${crypto
    .createHash("sha256")
    .update([...domains].sort().join(","))
    .digest("hex")
    .slice(0, 8)}`;
}

export class LoadBalancer extends pulumi.ComponentResource {
  readonly loadBalancer: hcloud.LoadBalancer;
  readonly certificate: hcloud.ManagedCertificate;
  readonly ipv4: pulumi.Output<string>;
  readonly ipv6: pulumi.Output<string>;

  constructor(name: string, args: LoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:loadbalancer:LoadBalancer", name, {}, opts);
    const child = { parent: this };

    this.loadBalancer = new hcloud.LoadBalancer(
      `${name}-lb`,
      {
        name: args.prefix,
        loadBalancerType: args.type,
        location: args.location,
        algorithm: { type: args.algorithm },
        labels: args.labels,
      },
      child,
    );
    const lbId = this.loadBalancer.id.apply(Number);
    // The load balancer joins the private network of its own zone; servers of other zones are
    // reached on their public addresses.
    const zone = LOCATIONS[args.location];
    const network = args.platform?.networks[zone];
    const attached = network
      ? new hcloud.LoadBalancerNetwork(
          `${name}-lb-network`,
          { loadBalancerId: lbId, subnetId: network.subnet.id },
          child,
        )
      : undefined;
    this.certificate = new hcloud.ManagedCertificate(
      `${name}-certificate`,
      { name: certificateName(args.prefix, args.domains), domainNames: args.domains, labels: args.labels },
      { ...child, dependsOn: args.dependsOn },
    );
    new hcloud.LoadBalancerService(
      `${name}-https`,
      {
        loadBalancerId: this.loadBalancer.id,
        protocol: "https",
        listenPort: 443,
        destinationPort: 80,
        http: { certificates: [this.certificate.id.apply(Number)], redirectHttp: true },
        healthCheck: {
          protocol: "http",
          port: 80,
          interval: 10,
          timeout: 5,
          retries: 3,
          // kamal-proxy routes by Host header, so the check must name one of the app's hosts.
          http: { path: args.healthPath, domain: args.domains[0], statusCodes: ["2??", "3??"] },
        },
      },
      child,
    );
    for (const host of args.targets) {
      new hcloud.LoadBalancerTarget(
        `${name}-target-${host.name}`,
        host.server
          ? {
              loadBalancerId: lbId,
              type: "server",
              serverId: host.server.id.apply(Number),
              usePrivateIp: !!attached && host.config.kind === "cloud" && LOCATIONS[host.config.location] === zone,
            }
          : { loadBalancerId: lbId, type: "ip", ip: host.ipv4 },
        { ...child, dependsOn: attached ? [attached] : [] },
      );
    }

    this.ipv4 = this.loadBalancer.ipv4;
    this.ipv6 = this.loadBalancer.ipv6;
    this.registerOutputs({ ipv4: this.ipv4, ipv6: this.ipv6 });
  }
}
