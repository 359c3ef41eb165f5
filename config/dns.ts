// Schema and rules of berth:dns: where the app's public host names point, and which DNS service
// holds the records (Hetzner DNS, Cloudflare, or none: the user creates them).
import { z } from "zod";

export const dnsName = z
  .string()
  .regex(
    /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/,
    "must be a lowercase DNS name such as example.com",
  );

export const DNS_PROVIDERS = ["hetzner", "cloudflare", "none"] as const;
export type DnsProvider = (typeof DNS_PROVIDERS)[number];

/** TTL Cloudflare takes as "automatic", the only TTL of a proxied record. */
export const CLOUDFLARE_AUTO_TTL = 1;
const DEFAULT_TTL = 300;

export const dnsSchema = z
  .strictObject({
    provider: z
      .enum(DNS_PROVIDERS)
      .default("hetzner")
      .describe(
        "Who holds the records: `hetzner` (Hetzner DNS, default), `cloudflare` (the zone in your Cloudflare account, looked up by name; set `cloudflare:apiToken` as a secret) or `none` (you create them: berth lists them in the `dnsRecords` output after each update).",
      ),
    zone: dnsName.describe("DNS zone, e.g. example.com."),
    createZone: z
      .boolean()
      .default(false)
      .describe(
        "Hetzner DNS only: create the zone (true) or use one that already exists there (false). A Cloudflare zone is always looked up.",
      ),
    ttl: z
      .number()
      .int()
      .min(60)
      .max(86400)
      .optional()
      .describe(
        "TTL in seconds of the records berth manages. Default 300; proxied Cloudflare records always use Cloudflare's automatic TTL.",
      ),
    proxied: z
      .boolean()
      .optional()
      .describe(
        "Cloudflare only: proxy the records through Cloudflare (the orange cloud). Default true. Proxied, several hosts of the primary role serve one name without a load balancer: Cloudflare spreads requests over their A and AAAA records.",
      ),
    hosts: z
      .array(dnsName)
      .min(1, "list at least one public host name")
      .describe(
        "Public host names of the app; each gets A and AAAA records pointing at the load balancer, or at every host of the primary role.",
      ),
  })
  .describe("DNS records for the app's public host names. Leave out to manage DNS elsewhere without berth's list.");

type DnsInput = z.output<typeof dnsSchema>;

/** berth:dns as components receive it: provider defaults applied. */
export interface DnsConfig {
  provider: DnsProvider;
  zone: string;
  createZone: boolean;
  ttl: number;
  proxied: boolean;
  hosts: string[];
}

export function resolveDns(dns: DnsInput | undefined): DnsConfig | undefined {
  if (!dns) return undefined;
  const proxied = dns.provider === "cloudflare" && (dns.proxied ?? true);
  return {
    provider: dns.provider,
    zone: dns.zone,
    createZone: dns.createZone,
    ttl: proxied ? CLOUDFLARE_AUTO_TTL : (dns.ttl ?? DEFAULT_TTL),
    proxied,
    hosts: dns.hosts,
  };
}

/** Rules of berth:dns on its own: names inside the zone, keys that belong to one provider. */
export function checkDns(dns: DnsInput | undefined, ctx: z.RefinementCtx): void {
  if (!dns) return;
  const issue = (path: (string | number)[], message: string) =>
    ctx.addIssue({ code: "custom", path: ["dns", ...path], message });
  const seen = new Set<string>();
  dns.hosts.forEach((h, i) => {
    if (h !== dns.zone && !h.endsWith(`.${dns.zone}`))
      issue(
        ["hosts", i],
        `"${h}" is not inside zone ${dns.zone}; use a name ending in .${dns.zone} or change berth:dns.zone`,
      );
    if (seen.has(h)) issue(["hosts", i], `duplicate host name "${h}"`);
    seen.add(h);
  });
  if (dns.createZone && dns.provider !== "hetzner")
    issue(
      ["createZone"],
      `only for Hetzner DNS: ${dns.provider === "cloudflare" ? "add the zone to your Cloudflare account and berth looks it up" : "with provider none berth creates nothing"}; remove it`,
    );
  if (dns.proxied !== undefined && dns.provider !== "cloudflare")
    issue(["proxied"], "only for Cloudflare (berth:dns.provider: cloudflare); remove it");
  if (dns.provider === "cloudflare" && (dns.proxied ?? true) && dns.ttl !== undefined)
    issue(
      ["ttl"],
      "proxied Cloudflare records always use Cloudflare's automatic TTL; remove ttl, or set proxied: false for records with your TTL",
    );
}
