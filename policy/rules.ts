// The rules of berth's policy pack as pure functions over the resources of a stack, so they run
// the same on a real `pulumi preview --policy-pack policy` and offline on a rendered example stack.
import { Properties } from "../plan/properties";

export interface PolicyInput {
  type: string;
  name: string;
  urn: string;
  /** Inputs (during preview) or state; unknown values are absent. */
  props: Properties;
  protect: boolean;
}

/** A published port of a container, as the docker provider takes it. */
interface PortInput {
  ip?: string;
  internal?: number;
  external?: number;
}

export interface Violation {
  rule: string;
  urn: string;
  message: string;
}

export interface Rule {
  name: string;
  description: string;
  check(resources: PolicyInput[], stack: string): Violation[];
}

const T = {
  server: "hcloud:index/server:Server",
  volume: "hcloud:index/volume:Volume",
  zone: "hcloud:index/zone:Zone",
  primaryIp: "hcloud:index/primaryIp:PrimaryIp",
  rrset: "hcloud:index/zoneRrset:ZoneRrset",
  certificate: "hcloud:index/managedCertificate:ManagedCertificate",
  lbService: "hcloud:index/loadBalancerService:LoadBalancerService",
  container: "docker:index/container:Container",
  remoteImage: "docker:index/remoteImage:RemoteImage",
  remoteCommand: "command:remote:Command",
};

const labelled = (r: PolicyInput) => r.props.labels?.["berth-stateful"] === "true";

/** The stack a resource belongs to, read from its URN (`urn:pulumi:<stack>::<project>::...`). */
export const stackOf = (urn: string) => urn.split("::")[0].replace(/^urn:pulumi:/, "");

export const statefulProtected: Rule = {
  name: "stateful-resources-protected",
  description:
    "Volumes, DNS zones, servers holding data (label berth-stateful or Hetzner delete protection) and their primary IPs are protected; a server being replaced on purpose (label berth-replace, from berth:hosts.<name>.replace) is the one exception.",
  check: (resources) =>
    resources
      .filter(
        (r) =>
          r.type === T.volume ||
          r.type === T.zone ||
          ((r.type === T.server || r.type === T.primaryIp) && labelled(r)) ||
          (r.type === T.server && r.props.deleteProtection === true),
      )
      .filter((r) => !r.protect)
      .filter((r) => !(r.type === T.server && r.props.labels?.["berth-replace"]))
      .map((r) => ({
        rule: statefulProtected.name,
        urn: r.urn,
        message: `${r.name} holds data or an address others depend on; register it with protect: true`,
      })),
};

const PRIVATE_V4 = /^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|127\.)/;

/** Whether a docker port binding listens only on a private or loopback address. */
export const privateBinding = (ip: unknown) =>
  typeof ip === "string" && (PRIVATE_V4.test(ip) || ip === "::1" || /^f[cd][0-9a-f]{2}:/i.test(ip));

export const accessoryPortsPrivate: Rule = {
  name: "accessory-ports-private",
  description: "Accessory containers (label berth.accessory) publish ports only on private or loopback addresses.",
  check: (resources) =>
    resources
      .filter(
        (r) =>
          r.type === T.container &&
          (r.props.labels ?? []).some((l: { label?: string }) => l?.label === "berth.accessory"),
      )
      .flatMap((r) =>
        (r.props.ports ?? [])
          .filter((p: PortInput) => !privateBinding(p?.ip))
          .map((p: PortInput) => ({
            rule: accessoryPortsPrivate.name,
            urn: r.urn,
            message: `${r.name} publishes port ${p?.external ?? p?.internal} on ${p?.ip ?? "every address (no ip)"}; bind it to the host's private or loopback address`,
          })),
      ),
};

/** An image reference that names no fixed version: no tag, or the `latest` tag, and no digest. */
export function mutableImage(ref: string): boolean {
  if (ref.includes("@sha256:") || /^sha256:[0-9a-f]{64}$/.test(ref)) return false;
  const last = ref.split("/").pop() ?? ref;
  const tag = last.includes(":") ? last.split(":").pop() : undefined;
  return tag === undefined || tag === "latest";
}

export const noLatestInProduction: Rule = {
  name: "no-latest-in-production",
  description: "In the production stack every image is pinned: no `latest` tag, no missing tag.",
  check: (resources, stack) =>
    stack !== "production"
      ? []
      : resources
          .flatMap((r) => {
            const ref = r.type === T.remoteImage ? r.props.name : r.type === T.container ? r.props.image : undefined;
            return typeof ref === "string" && mutableImage(ref) ? [{ r, ref }] : [];
          })
          .map(({ r, ref }) => ({
            rule: noLatestInProduction.name,
            urn: r.urn,
            message: `${r.name} uses ${ref}, which can change under a running deploy; pin a version tag or digest`,
          })),
};

/** Every public host name: A and AAAA record sets, `@` meaning the zone apex. */
function publicHostNames(resources: PolicyInput[]): { fqdn: string; urn: string }[] {
  return resources
    .filter((r) => r.type === T.rrset && (r.props.type === "A" || r.props.type === "AAAA"))
    .filter((r) => typeof r.props.name === "string" && typeof r.props.zone === "string")
    .map((r) => ({ fqdn: r.props.name === "@" ? r.props.zone : `${r.props.name}.${r.props.zone}`, urn: r.urn }));
}

export const tlsOnPublicHosts: Rule = {
  name: "tls-on-public-hosts",
  description:
    "Every public host name is served over TLS: by a load balancer https service with a managed certificate for it, or by kamal-proxy deployed with --tls for it.",
  check: (resources) => {
    const httpsLb = resources.some(
      (r) => r.type === T.lbService && r.props.protocol === "https" && (r.props.http?.certificates ?? []).length > 0,
    );
    const certified = new Set(
      resources.filter((r) => r.type === T.certificate).flatMap((r) => r.props.domainNames ?? []),
    );
    const proxyTls = new Set<string>();
    for (const r of resources) {
      const create = r.type === T.remoteCommand ? r.props.create : undefined;
      if (typeof create !== "string") continue;
      for (const line of create.split("\n")) {
        if (!/kamal-proxy deploy /.test(line) || !/\s--tls(\s|$)/.test(line)) continue;
        for (const m of line.matchAll(/--host[= ]([^\s;]+)/g)) proxyTls.add(m[1]);
      }
    }
    return publicHostNames(resources)
      .filter(({ fqdn }) => !(httpsLb && certified.has(fqdn)) && !proxyTls.has(fqdn))
      .map(({ fqdn, urn }) => ({
        rule: tlsOnPublicHosts.name,
        urn,
        message: `${fqdn} is public but nothing terminates TLS for it (no https load balancer certificate, no kamal-proxy --tls)`,
      }));
  },
};

export const firewallOnServers: Rule = {
  name: "firewall-on-servers",
  description: "Every Hetzner Cloud server has a firewall attached.",
  check: (resources) =>
    resources
      .filter((r) => r.type === T.server && !((r.props.firewallIds ?? []).length > 0))
      .map((r) => ({
        rule: firewallOnServers.name,
        urn: r.urn,
        message: `${r.name} has no firewall; attach berth's firewall (firewallIds)`,
      })),
};

export const RULES: Rule[] = [
  statefulProtected,
  accessoryPortsPrivate,
  noLatestInProduction,
  tlsOnPublicHosts,
  firewallOnServers,
];

/** Runs every rule over a stack's resources. */
export function checkStack(resources: PolicyInput[], stack: string): Violation[] {
  return RULES.flatMap((rule) => rule.check(resources, stack));
}
