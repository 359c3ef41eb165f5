// Cloudflare in front of the app: DNS records in a zone of the user's Cloudflare account (looked
// up by name), proxied or not, and Cloudflare Origin CA certificates that kamal-proxy serves so
// the zone can use SSL/TLS mode Full (strict). The provider authenticates with the stack's
// `cloudflare:apiToken` secret (or CLOUDFLARE_API_TOKEN): DNS Edit on the zone, and SSL and
// Certificates Edit for origin certificates.
import * as crypto from "node:crypto";
import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import type { DnsRecordOutput } from "./dns";

/** One machine (or the load balancer) a host name points at. */
export interface EdgeTarget {
  /** Stable name of the target (a berth host name, or `lb`): part of each record's logical name. */
  key: string;
  ipv4: pulumi.Input<string>;
  /** Absent when the target has no public IPv6 address: no AAAA record for it then. */
  ipv6?: pulumi.Input<string | undefined>;
}

export interface CloudflareDnsArgs {
  zone: string;
  /** 1 is Cloudflare's "automatic", the TTL of every proxied record. */
  ttl: number;
  proxied: boolean;
  hosts: string[];
  /** What the host names point at. */
  targets: EdgeTarget[];
}

/**
 * A and AAAA records for every public host name, one record per target: several hosts of a role
 * serve one name, Cloudflare's proxy spreading the requests over them (or DNS round robin, unproxied).
 */
export class CloudflareDns extends pulumi.ComponentResource {
  readonly zoneId: pulumi.Output<string>;
  readonly records: DnsRecordOutput[] = [];

  constructor(name: string, args: CloudflareDnsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:dns:CloudflareDns", name, {}, opts);
    // The zone exists in the account already (Cloudflare hands out its name servers); berth only reads it.
    this.zoneId = cloudflare.getZoneOutput({ filter: { name: args.zone } }, { parent: this }).zoneId;
    for (const host of args.hosts) {
      for (const type of ["A", "AAAA"] as const) {
        const values: pulumi.Output<string | undefined>[] = [];
        for (const t of args.targets) {
          const value = type === "A" ? t.ipv4 : t.ipv6;
          if (value === undefined) continue;
          // A record of an existing machine whose IPv6 address is unknown is never created.
          new cloudflare.DnsRecord(
            `${name}-${host}-${type.toLowerCase()}-${t.key}`,
            {
              zoneId: this.zoneId,
              name: host,
              type,
              content: pulumi.output(value).apply((v) => v ?? ""),
              ttl: args.ttl,
              proxied: args.proxied,
              comment: "managed by berth",
            },
            { parent: this },
          );
          values.push(pulumi.output(value));
        }
        if (values.length === 0) continue;
        this.records.push({
          name: host,
          type,
          values: pulumi.all(values).apply((vs) => vs.filter((v): v is string => !!v)),
        });
      }
    }
    this.registerOutputs({ zoneId: this.zoneId, records: this.records.map((r) => r.values) });
  }
}

export interface OriginCertificateArgs {
  /** Host names the certificate covers (the role's proxy host names). */
  hostnames: string[];
}

/**
 * A Cloudflare Origin CA certificate for a role's host names: the key is made here and stays a
 * secret in state, Cloudflare signs its request. Cloudflare trusts it in SSL/TLS mode Full
 * (strict); browsers do not, so it only serves behind proxied records. Valid 15 years (the longest
 * Cloudflare offers); new host names request a new one.
 */
export class OriginCertificate extends pulumi.ComponentResource {
  /** The private key and the certificate, PEM, one after the other: what the hosts install. A secret. */
  readonly bundle: pulumi.Output<string>;
  /** A short digest of the certificate: kamal-proxy loads it anew when it changes. */
  readonly digest: pulumi.Output<string>;

  constructor(name: string, args: OriginCertificateArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:tls:OriginCertificate", name, {}, opts);
    const child = { parent: this };
    const key = new tls.PrivateKey(`${name}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, child);
    const request = new tls.CertRequest(
      `${name}-request`,
      { privateKeyPem: key.privateKeyPem, subject: { commonName: args.hostnames[0] }, dnsNames: args.hostnames },
      child,
    );
    const certificate = new cloudflare.OriginCaCertificate(
      `${name}-certificate`,
      { csr: request.certRequestPem, hostnames: args.hostnames, requestType: "origin-ecc", requestedValidity: 5475 },
      child,
    );
    this.bundle = pulumi.secret(
      pulumi.all([key.privateKeyPem, certificate.certificate]).apply(([k, c]) => `${k.trim()}\n${c.trim()}\n`),
    );
    this.digest = certificate.certificate.apply((c) =>
      crypto.createHash("sha256").update(c.trim()).digest("hex").slice(0, 12),
    );
    this.registerOutputs({ digest: this.digest });
  }
}
