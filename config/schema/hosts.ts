// The hosts section of the input: Hetzner locations, host names, host keys, and one host as
// written (a Hetzner Cloud server or an existing machine, with the rule that tells them apart).
import { z } from "zod";
import { containerLabelsSchema, tagName } from "../app";
import { dnsName } from "../dns";
import { LIST_SERVER_TYPES, serverTypeProblem } from "../serverTypes";

/** Hetzner Cloud locations and the network zone each belongs to. */
export const LOCATIONS = {
  fsn1: "eu-central",
  nbg1: "eu-central",
  hel1: "eu-central",
  ash: "us-east",
  hil: "us-west",
  sin: "ap-southeast",
} as const;
export type Location = keyof typeof LOCATIONS;
export const NETWORK_ZONES = ["eu-central", "us-east", "us-west", "ap-southeast"] as const;
export type NetworkZone = (typeof NETWORK_ZONES)[number];

export const locationNames = Object.keys(LOCATIONS) as [Location, ...Location[]];

export const hostNamePattern = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const hostName = z
  .string()
  .regex(hostNamePattern, "must be a lowercase host name: letters, digits and dashes, at most 63 characters");

const ipv4 = z.ipv4({ error: "must be an IPv4 address such as 203.0.113.10" });
export const cidr = z.union([z.cidrv4(), z.cidrv6()], { error: "must be a CIDR range such as 203.0.113.0/24 or ::/0" });

const labels = z
  .record(
    z.string().regex(/^([a-z0-9.-]+\/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/, "is not a valid label key"),
    z.string().regex(/^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/, "is not a valid label value"),
  )
  .describe("Hetzner labels (key: value) added to the server, next to the labels berth sets itself.");

export const dataVolumeSchema = z
  .strictObject({
    size: z
      .number()
      .int()
      .min(10)
      .max(10240)
      .describe("Size in GB (10 to 10240). Hetzner volumes can grow, never shrink."),
    format: z.enum(["ext4", "xfs"]).default("ext4").describe("Filesystem the volume is formatted with when created."),
    mountPath: z
      .string()
      .regex(/^\/[A-Za-z0-9._/-]+$/, "must be an absolute path such as /mnt/data")
      .optional()
      .describe("Where the volume is mounted on the host. Default: /mnt/berth/<volume name>."),
  })
  .describe(
    "A Hetzner volume attached to this host and mounted at boot. Volumes are protected and kept when removed from config.",
  );

/** Host key types berth accepts; RSA only beside an ed25519 or ECDSA key (see usableHostKey). */
const HOST_KEY_TYPES = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
] as const;

/**
 * A host key as `ssh-keyscan` prints it (`address type key`) or as a `.pub` file holds it
 * (`type key comment`), reduced to `type key`; undefined when it is not a well-formed key.
 */
export function parseHostKey(line: string): string | undefined {
  const words = line.trim().split(/\s+/);
  const at = words.findIndex((w) => (HOST_KEY_TYPES as readonly string[]).includes(w));
  const data = words[at + 1];
  if (at < 0 || at > 1 || !data || !/^[A-Za-z0-9+/]+={0,2}$/.test(data)) return undefined;
  // The key data starts with its own type name: a pasted key of another type is caught here.
  const blob = Buffer.from(data, "base64");
  if (blob.length < 4 || blob.subarray(4, 4 + blob.readUInt32BE(0)).toString() !== words[at]) return undefined;
  return `${words[at]} ${data}`;
}

/**
 * The key berth verifies a host with: the first ed25519 or ECDSA key. The command provider
 * negotiates only the given key's algorithm (pulumi-command provider/pkg/provider/remote/
 * connection.go: HostKeyAlgorithms), and for an RSA key that is SHA-1 `ssh-rsa`, which
 * OpenSSH servers refuse since 8.8.
 */
export function usableHostKey(keys: string[]): string | undefined {
  return keys.find((k) => !k.startsWith("ssh-rsa "));
}

/** How to obtain a machine's host key and check it is the machine's own. */
export const hostKeyScan = (address: string, port: number) =>
  `get it with \`ssh-keyscan -p ${port} -t ed25519 ${address}\`, check that its fingerprint (\`ssh-keygen -lf <file>\`) is the one the machine shows for itself (\`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\` on its console)`;
export const hostKeysHelp = (name: string, address: string, port: number) =>
  `${hostKeyScan(address, port)}, then \`pulumi config set --path 'berth:hosts.${name}.hostKeys[0]' 'ssh-ed25519 AAAA...'\``;

/** One configured host, as written. `address` decides whether it is an existing machine. */
export const hostInput = z
  .strictObject({
    serverType: z
      .string()
      .superRefine((type, ctx) => {
        const problem = serverTypeProblem(type);
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      })
      .optional()
      .describe(
        `Hetzner Cloud server type (cx23, cpx32, cax21, ccx13, ...). Required for a Hetzner Cloud server; ${LIST_SERVER_TYPES}.`,
      ),
    location: z
      .enum(locationNames)
      .optional()
      .describe("Hetzner location (fsn1, nbg1, hel1, ash, hil, sin). Required for a Hetzner Cloud server."),
    image: z
      .string()
      .min(1)
      .optional()
      .describe(
        "OS image of a Hetzner Cloud server. Default ubuntu-24.04. Changing it later does not rebuild a running server.",
      ),
    labels: labels.optional(),
    volumes: z
      .record(hostName, dataVolumeSchema)
      .optional()
      .describe("Data volumes of a Hetzner Cloud server, by name (e.g. pgdata)."),
    privateIp: ipv4
      .optional()
      .describe("Fixed address of a Hetzner Cloud server in the private network. Default: assigned by Hetzner."),
    stateful: z
      .boolean()
      .optional()
      .describe(
        "The host holds data (a database, uploaded files): berth protects it so no `pulumi up` or `destroy` can delete or replace it. Default false; hosts running accessories are always stateful.",
      ),
    address: z
      .union([ipv4, dnsName, hostName], {
        error: "must be an IPv4 address, a DNS name or a host name your SSH configuration knows (such as homelab)",
      })
      .optional()
      .describe(
        "Public address of an existing machine (a dedicated server, another cloud): an IPv4 address, a DNS name, or a single-word name your ~/.ssh/config resolves. Setting it makes berth use the machine as it is instead of creating a Hetzner Cloud server.",
      ),
    ipv6: z.ipv6().optional().describe("Public IPv6 address of an existing machine, used for AAAA records."),
    privateAddress: ipv4
      .optional()
      .describe("Address on which other hosts reach an existing machine privately (VPN, vSwitch). Default: address."),
    hostKeys: z
      .array(
        z
          .string()
          .refine(
            (k) => parseHostKey(k) !== undefined,
            "must be an SSH host key as ssh-keyscan prints it (203.0.113.7 ssh-ed25519 AAAA...) or as a .pub file holds it (ssh-ed25519 AAAA...)",
          ),
      )
      .min(1)
      .optional()
      .describe(
        "SSH host keys of the machine, as `ssh-keyscan` prints them. Required for an existing machine: berth verifies them instead of trusting the first key it sees. For a Hetzner Cloud server berth generates the key itself; set this only for a server created before berth did (see docs/protecting-data.md, Upgrading from an earlier berth).",
      ),
    tags: z
      .array(tagName)
      .optional()
      .describe(
        "Tags of this host (Kamal's host tags): app containers here get the variables of berth:env.tags.<tag> for each, in this order.",
      ),
    containerLabels: containerLabelsSchema
      .optional()
      .describe(
        "Docker labels on the app containers of this host, over the role's (e.g. role: primary for the host holding the SQLite writer).",
      ),
    replace: z
      .enum(["unprotect", "rebuild"])
      .optional()
      .describe(
        "Replacing this Hetzner Cloud server on purpose (see docs/protecting-data.md, Replacing a server): `unprotect` lifts its delete and rebuild protection (Pulumi's and Hetzner's) so `pulumi up --replace` can rebuild it as it was created; `rebuild` also builds the replacement from today's bootstrap, image and SSH key, so `pulumi up` rebuilds it when they changed. Remove it afterwards: the protection comes back.",
      ),
  })
  .superRefine((host, ctx) => {
    const cloudOnly = ["serverType", "location", "image", "volumes", "privateIp", "replace"] as const;
    const existingOnly = ["ipv6", "privateAddress"] as const;
    if (host.address !== undefined) {
      for (const key of cloudOnly) {
        if (host[key] !== undefined) {
          ctx.addIssue({
            code: "custom",
            path: [key],
            message: `only for Hetzner Cloud servers; remove it, or remove \`address\` to let berth create the server`,
          });
        }
      }
      return;
    }
    for (const key of existingOnly) {
      if (host[key] !== undefined) {
        ctx.addIssue({ code: "custom", path: [key], message: "only for existing machines (hosts with `address`)" });
      }
    }
    if (host.serverType === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["serverType"],
        message: "required: set a Hetzner server type such as cx23, or set `address` to use an existing machine",
      });
    }
    if (host.location === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["location"],
        message: `required: set one of ${locationNames.join(", ")}, or set \`address\` to use an existing machine`,
      });
    }
    if (host.replace === "rebuild" && host.hostKeys) {
      ctx.addIssue({
        code: "custom",
        path: ["hostKeys"],
        message:
          "a rebuilt server gets the host key berth generates; remove hostKeys together with setting replace: rebuild",
      });
    }
  })
  .describe(
    "A Hetzner Cloud server berth creates (serverType, location, ...) or an existing machine berth uses (address).",
  );
