// The one description of a berth stack's configuration. Validation, the TypeScript types,
// the JSON Schema for editors (schema/berth.schema.json) and docs/configuration.md all come
// from here; `npm run schema` regenerates the last two and a test fails when they drift.
import { z } from "zod";
import { closest } from "./closest";
import { looksLikeCredential, SECRET_NAME } from "./secrets";
import { LIST_SERVER_TYPES, serverTypeProblem } from "./serverTypes";
import {
  aliasesSchema,
  bootSchema,
  builderSchema,
  commandWords,
  containerLabelsSchema,
  ContainerOptions,
  containerOptions,
  EnvConfig,
  hooksSchema,
  maintenanceSchema,
  mountSpecSchema,
  ProxyConfig,
  proxySchema,
  registrySchema,
  RoleConfig,
  ORIGIN_CERTIFICATE,
  RoleProxyConfig,
  roleSchema,
  rootEnvSchema,
  secretName,
  tagName,
} from "./app";
import { attachSchema, SharedServer } from "./attach";
import { checkDns, DnsConfig, dnsName, dnsSchema, resolveDns } from "./dns";
import {
  Canary,
  canaryOf,
  DeployWindowsConfig,
  deployWindowsSchema,
  rolloutProblems,
  rolloutSchema,
  VerifyConfig,
  verifySchema,
} from "./rollout";
import {
  AccessoryInput,
  accessoriesSchema,
  AccessoryPort,
  LITESTREAM_IMAGE,
  parsePort,
  POSTGRES_PASSWORD_FILE,
  privateAddress,
} from "./accessory";

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

const locationNames = Object.keys(LOCATIONS) as [Location, ...Location[]];

export const hostNamePattern = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const hostName = z
  .string()
  .regex(hostNamePattern, "must be a lowercase host name: letters, digits and dashes, at most 63 characters");

const ipv4 = z.ipv4({ error: "must be an IPv4 address such as 203.0.113.10" });
const cidr = z.union([z.cidrv4(), z.cidrv6()], { error: "must be a CIDR range such as 203.0.113.0/24 or ::/0" });

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
const hostInput = z
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
        "SSH host keys of the machine, as `ssh-keyscan` prints them. Required for an existing machine: berth verifies them instead of trusting the first key it sees. For a Hetzner Cloud server berth generates the key itself; set this only for a server created before berth did (see README, Upgrading).",
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
        "Replacing this Hetzner Cloud server on purpose (see README, Replacing a server): `unprotect` lifts its delete and rebuild protection (Pulumi's and Hetzner's) so `pulumi up --replace` can rebuild it as it was created; `rebuild` also builds the replacement from today's bootstrap, image and SSH key, so `pulumi up` rebuilds it when they changed. Remove it afterwards: the protection comes back.",
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

export type CloudHost = {
  kind: "cloud";
  name: string;
  serverType: string;
  location: Location;
  image: string;
  labels: Record<string, string>;
  volumes: Record<string, { size: number; format: "ext4" | "xfs"; mountPath: string }>;
  privateIp?: string;
  stateful: boolean;
  /** Pinned host keys (`type key`) of a server created before berth generated them. */
  hostKeys: string[];
  replace?: "unprotect" | "rebuild";
};
export type ExistingHost = {
  kind: "existing";
  name: string;
  address: string;
  ipv6?: string;
  privateAddress: string;
  stateful: boolean;
  /** Host keys (`type key`) berth verifies the machine with. */
  hostKeys: string[];
  /** A host of the server stack this stack attaches to (berth:attach), as that stack exports it. */
  attached?: {
    stack: string;
    /** Changes when the server stack's machine behind the host changes. */
    generation: string;
    /** Id of the kamal-proxy container the server stack runs there. */
    proxy: string;
    zone?: string;
    ssh: { user: string; port: number };
  };
};
export type HostConfig = CloudHost | ExistingHost;

/**
 * Name of a Hetzner Cloud server, and its hostname: unique per Hetzner project, so it carries
 * the service and stack, and at most 63 characters (one DNS label, RFC 1123).
 */
export function serverName(service: string, stack: string, host: string): string {
  return `${service}-${stack}-${host}`;
}

/** An image tag or digest: what berth:version and berth:canary name. */
const versionSchema = z
  .string()
  .regex(
    /^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|sha256:[a-f0-9]{64})$/,
    "must be an image tag (e.g. 2024-06-01.3 or a git sha) or a digest sha256:<64 hex digits>",
  );

const roleName = z.string().regex(/^[a-z][a-z0-9_-]*$/, "must be a lowercase role name such as web or job");

/**
 * The berth:secrets entry that keys the fingerprints in app container names (config/stack.ts
 * `fingerprint`): a random value, set once per stack, never given to a container.
 */
export const FINGERPRINT_KEY = "BERTH_FINGERPRINT_KEY";
const FINGERPRINT_KEY_COMMAND = `openssl rand -hex 32 | pulumi config set --secret --path 'berth:secrets.${FINGERPRINT_KEY}'`;

export const stackSchema = z
  .strictObject({
    service: z
      .string()
      .regex(/^[a-z0-9_-]+$/i, "may only contain letters, digits, dashes and underscores (Kamal's rule)")
      .max(48, "must be at most 48 characters")
      .describe(
        "Name of the app. Prefix of every container, volume and Hetzner resource berth creates (Kamal's service).",
      ),
    image: z
      .string()
      .regex(
        /^([a-z0-9.-]+(:[0-9]+)?\/)?[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/,
        "must be an image name without tag, such as ghcr.io/acme/app (the tag goes in berth:version)",
      )
      .optional()
      .describe(
        "Image repository of the app, without tag (Kamal's image). Required when the stack runs roles; a stack of hosts and accessories only has none.",
      ),
    version: versionSchema
      .optional()
      .describe(
        "Image tag or digest to deploy. Setting it and running `pulumi up` is a deploy; its history is the rollback log. Absent: the version the stack deployed last (its own `version` output), so a stack file that does not name one never moves the app; the first deploy must name one.",
      ),
    canary: versionSchema
      .optional()
      .describe(
        "A version to roll out as a canary beside berth:version, the way berth:rollout says, until `berth rollout promote` makes it berth:version or `berth rollout abort` removes it. A run whose stack file does not name it removes the canary.",
      ),
    rollout: rolloutSchema.optional(),
    verify: verifySchema.optional(),
    deployWindows: deployWindowsSchema.optional(),
    hosts: z
      .record(hostName, hostInput)
      .default({})
      .describe(
        "Machines of this stack, by name. With berth:attach, the server stack's shared hosts are known by their names there and need no entry here.",
      ),
    servers: z
      .record(roleName, roleSchema)
      .default({})
      .describe(
        "Roles and the hosts that run them (Kamal's servers). Any roles: web and job, only workers, or none (a stack of hosts and accessories, or a server stack).",
      ),
    primaryRole: roleName
      .optional()
      .describe(
        "The primary role (Kamal's primary_role): deployed first, behind kamal-proxy unless its proxy is false, and the role DNS and the load balancer point at. Default: web when there is a web role, else the first role.",
      ),
    attach: attachSchema.optional(),
    env: rootEnvSchema.optional(),
    registry: registrySchema.optional(),
    builder: builderSchema.optional(),
    volumes: z
      .array(mountSpecSchema)
      .optional()
      .describe(
        "Volumes of every app container (Kamal's volumes): `storage:/rails/storage` (a named docker volume, kept across deploys) or `/host/path:/container/path`.",
      ),
    assetPath: z
      .string()
      .regex(/^\/[^:\s]*$/, "must be an absolute path inside the image, e.g. /rails/public/assets")
      .optional()
      .describe(
        "Path of fingerprinted assets in the image (Kamal's asset_path). During a switch, old and new containers both serve old and new assets.",
      ),
    proxy: proxySchema.prefault({}),
    boot: bootSchema.prefault({}),
    hooks: hooksSchema.prefault({}),
    retainContainers: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(5)
      .describe("How many versions' images each host keeps, so a rollback needs no pull (Kamal's retain_containers)."),
    readinessDelay: z
      .number()
      .int()
      .min(0)
      .max(600)
      .default(7)
      .describe(
        "Seconds a container of a role without proxy and without a docker health check must keep running before its step counts as done (Kamal's readiness_delay).",
      ),
    maintenance: maintenanceSchema.prefault({}),
    accessories: accessoriesSchema.optional(),
    aliases: aliasesSchema.optional(),
    ssh: z
      .strictObject({
        user: z
          .string()
          .regex(/^[a-z_][a-z0-9_-]*$/, "must be a Unix user name")
          .default("root")
          .describe("User berth connects as. A non-root user is created by cloud-init with docker rights."),
        port: z.number().int().min(1).max(65535).default(22).describe("SSH port of every host."),
        publicKey: z
          .string()
          .regex(
            /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( .*)?$/,
            "must be an OpenSSH public key line (ssh-ed25519 AAAA... comment)",
          )
          .optional()
          .describe(
            "Public key installed on new servers (contents of ~/.ssh/id_ed25519.pub). Required when the stack has Hetzner Cloud servers.",
          ),
        hetznerKeyName: z
          .string()
          .min(1)
          .max(64)
          .optional()
          .describe(
            "Name of an SSH key already in the Hetzner project to install on new servers, instead of registering publicKey as `<service>-<stack>`. Hetzner accepts a public key once per project: stacks sharing a project and a key register it once (`hcloud ssh-key create --name deploy --public-key-from-file ~/.ssh/id_ed25519.pub`) and name it here.",
          ),
        privateKeySecret: secretName
          .optional()
          .describe(
            "Name of the berth:secrets entry holding the private key berth uses for its own SSH steps. Default: the running ssh-agent (SSH_AUTH_SOCK).",
          ),
        allowFrom: z
          .array(cidr)
          .min(1, "list at least one range, e.g. your office or CI egress range")
          .default(["0.0.0.0/0", "::/0"])
          .describe("Source ranges the firewall lets reach the SSH port."),
      })
      .prefault({})
      .describe(
        "How berth and its operators reach the hosts over SSH (Kamal's ssh). Attached hosts (berth:attach) are reached as the server stack reaches them.",
      ),
    dns: dnsSchema.optional(),
    network: z
      .strictObject({
        ipRange: z.cidrv4().default("10.0.0.0/16").describe("IP range of the private network."),
        subnet: z
          .cidrv4()
          .default("10.0.1.0/24")
          .describe("Subnet every Hetzner Cloud host joins; must lie inside ipRange."),
        zone: z
          .enum(NETWORK_ZONES)
          .optional()
          .describe(
            "With Hetzner Cloud hosts in several network zones: the zone whose private network is named `<service>-<stack>` (the zone of the stack's first hosts, so their network stays as it is). Every other zone gets its own network, `<service>-<stack>-<zone>`, with the same ranges; hosts of different zones reach each other over public addresses only. Default: the zone of the hosts when they share one.",
          ),
      })
      .prefault({})
      .describe(
        "The private network the Hetzner Cloud hosts share: one per Hetzner network zone (a Hetzner network lives in one zone).",
      ),
    loadBalancer: z
      .strictObject({
        enabled: z
          .boolean()
          .optional()
          .describe(
            "Put a Hetzner load balancer in front of the primary role's hosts (true), or let each host's kamal-proxy answer on its own address, as Kamal runs them (false: berth:dns points at every host, so Cloudflare's proxy or DNS round robin spreads the traffic). The load balancer's certificate needs berth:dns in Hetzner DNS. Default: true when the primary role has several hosts and berth:dns is in Hetzner DNS, false otherwise; with several hosts and no berth:dns, choose.",
          ),
        type: z
          .string()
          .regex(/^lb[0-9]+$/, "must be a Hetzner load balancer type such as lb11")
          .default("lb11")
          .describe("Hetzner load balancer type."),
        location: z
          .enum(locationNames)
          .optional()
          .describe("Location of the load balancer. Default: the first host's of the primary role."),
        algorithm: z
          .enum(["round_robin", "least_connections"])
          .default("round_robin")
          .describe("How requests are spread over the primary role's hosts."),
      })
      .prefault({})
      .describe("The Hetzner load balancer in front of the primary role (a choice: see enabled)."),
    secrets: z
      .record(secretName, z.string())
      .default({})
      .describe(
        `Every secret value of the stack, by name. Set each with \`pulumi config set --secret --path 'berth:secrets.NAME'\`; berth reads them as Pulumi secrets. ${FINGERPRINT_KEY} is berth's own: a random key (at least 32 characters) for the fingerprints in app container names, required once app containers receive a secret; set it once with \`${FINGERPRINT_KEY_COMMAND}\`.`,
      ),
  })
  .superRefine((cfg, ctx) => crossCheck(cfg, ctx));

type RawStack = z.input<typeof stackSchema>;
type CheckedStack = z.output<typeof stackSchema>;

/** Rules that span several keys: references between hosts, roles, DNS and secrets. */
function crossCheck(cfg: CheckedStack, ctx: z.RefinementCtx): void {
  const hostNames = Object.keys(cfg.hosts);
  const nearest = (name: string) => closest(name, hostNames);

  if (hostNames.length === 0)
    ctx.addIssue({
      code: "custom",
      path: ["hosts"],
      message: "define at least one host, or attach to a server stack's hosts with berth:attach",
    });
  const roleNames = Object.keys(cfg.servers);
  if (cfg.primaryRole !== undefined && !cfg.servers[cfg.primaryRole])
    ctx.addIssue({
      code: "custom",
      path: ["primaryRole"],
      message: `unknown role "${cfg.primaryRole}"; ${roleNames.length ? `roles are ${roleNames.join(", ")}` : "berth:servers defines no role"}`,
    });
  if (roleNames.length > 0 && cfg.image === undefined)
    ctx.addIssue({
      code: "custom",
      path: ["image"],
      message: "required: the image repository the roles run, without tag, such as ghcr.io/acme/app",
    });
  for (const [role, def] of Object.entries(cfg.servers)) {
    const seen = new Set<string>();
    def.hosts.forEach((host, i) => {
      if (seen.has(host)) {
        ctx.addIssue({
          code: "custom",
          path: ["servers", role, "hosts", i],
          message: `duplicate host "${host}"; list each host once`,
        });
      }
      seen.add(host);
      if (!cfg.hosts[host]) {
        const hint = nearest(host);
        ctx.addIssue({
          code: "custom",
          path: ["servers", role, "hosts", i],
          message: `unknown host "${host}"; define it under berth:hosts${hint ? ` or did you mean "${hint}"?` : ""}`,
        });
      }
    });
  }

  for (const [name, host] of Object.entries(cfg.hosts)) {
    const where = host.address ?? "<server address>";
    if (host.address !== undefined && !host.hostKeys) {
      ctx.addIssue({
        code: "custom",
        path: ["hosts", name, "hostKeys"],
        message: `required for an existing machine, so berth verifies it is talking to this machine instead of trusting the first key it sees: ${hostKeysHelp(name, where, cfg.ssh.port)}`,
      });
    }
    const keys = (host.hostKeys ?? []).map(parseHostKey).filter((k): k is string => !!k);
    if (keys.length > 0 && keys.length === host.hostKeys?.length && !usableHostKey(keys)) {
      ctx.addIssue({
        code: "custom",
        path: ["hosts", name, "hostKeys"],
        message: `needs the machine's ed25519 (or ECDSA) key beside RSA ones, since servers refuse the SHA-1 signatures an RSA host key would be checked with: ${hostKeysHelp(name, where, cfg.ssh.port)}`,
      });
    }
  }

  const byAddress = new Map<string, string>();
  for (const [name, host] of Object.entries(cfg.hosts)) {
    if (host.address === undefined) continue;
    const other = byAddress.get(host.address);
    if (other) {
      ctx.addIssue({
        code: "custom",
        path: ["hosts", name, "address"],
        message: `same address as host "${other}"; a machine is listed once and may run several roles`,
      });
    }
    byAddress.set(host.address, name);
  }

  checkZones(cfg, ctx);
  if (!cidrContains(cfg.network.ipRange, cfg.network.subnet)) {
    ctx.addIssue({
      code: "custom",
      path: ["network", "subnet"],
      message: `must lie inside berth:network.ipRange (${cfg.network.ipRange})`,
    });
  }
  for (const [name, host] of Object.entries(cfg.hosts)) {
    if (host.privateIp && !cidrContains(cfg.network.subnet, `${host.privateIp}/32`)) {
      ctx.addIssue({
        code: "custom",
        path: ["hosts", name, "privateIp"],
        message: `must lie inside berth:network.subnet (${cfg.network.subnet})`,
      });
    }
  }

  checkDns(cfg.dns, ctx);
  checkEdge(cfg, ctx);
  if (cfg.ssh.publicKey === undefined && Object.values(cfg.hosts).some((h) => h.address === undefined))
    ctx.addIssue({
      code: "custom",
      path: ["ssh", "publicKey"],
      message:
        "required for Hetzner Cloud servers, which cloud-init gives this key: set the contents of ~/.ssh/id_ed25519.pub",
    });
  (cfg.proxy.sharedHosts ?? []).forEach((h, i) => {
    if (!cfg.hosts[h]) {
      const hint = nearest(h);
      ctx.addIssue({
        code: "custom",
        path: ["proxy", "sharedHosts", i],
        message: `unknown host "${h}"; define it under berth:hosts${hint ? ` or did you mean "${hint}"?` : ""}`,
      });
    }
  });
  if (cfg.proxy.sharedHosts && !cfg.proxy.manage)
    ctx.addIssue({
      code: "custom",
      path: ["proxy", "sharedHosts"],
      message: "a server stack runs the kamal-proxy it shares: remove berth:proxy.manage: false",
    });
  if (cfg.attach && cfg.proxy.sharedHosts)
    ctx.addIssue({
      code: "custom",
      path: ["attach"],
      message:
        "a stack either shares its hosts (berth:proxy.sharedHosts) or attaches to another's, not both; attach each app to the server stack",
    });

  const secretNames = Object.keys(cfg.secrets);
  const needSecret = (name: string | undefined, path: (string | number)[]) => {
    // A value that is not a valid name already has its message (and is never repeated).
    if (name !== undefined && !(name in cfg.secrets) && SECRET_NAME.test(name) && !looksLikeCredential(name)) {
      const hint = closest(name, secretNames);
      ctx.addIssue({
        code: "custom",
        path,
        message: `secret "${name}" is not set; run \`pulumi config set --secret --path 'berth:secrets.${name}' ...\`${hint ? ` or did you mean "${hint}"?` : ""}`,
      });
    }
  };
  needSecret(cfg.ssh.privateKeySecret, ["ssh", "privateKeySecret"]);
  needSecret(cfg.registry?.passwordSecret, ["registry", "passwordSecret"]);
  const envSecrets = (env: EnvConfig | undefined, path: (string | number)[]) =>
    (env?.secret ?? []).forEach((entry, i) => {
      const name = entry.split(":")[1] ?? entry;
      if (name === FINGERPRINT_KEY) {
        ctx.addIssue({
          code: "custom",
          path: [...path, "secret", i],
          message: `${FINGERPRINT_KEY} keys berth's container fingerprints and is never given to a container; use another secret`,
        });
      } else needSecret(name, [...path, "secret", i]);
    });
  checkFingerprintKey(cfg, ctx);
  envSecrets(cfg.env, ["env"]);
  for (const [tag, env] of Object.entries(cfg.env?.tags ?? {})) envSecrets(env, ["env", "tags", tag]);
  for (const [name, acc] of Object.entries(cfg.accessories ?? {})) {
    const path = ["accessories", name];
    envSecrets(acc.env, [...path, "env"]);
    needSecret(acc.postgres?.passwordSecret, [...path, "postgres", "passwordSecret"]);
    needSecret(acc.litestream?.replica.accessKeyIdSecret, [...path, "litestream", "replica", "accessKeyIdSecret"]);
    needSecret(acc.litestream?.replica.secretAccessKeySecret, [
      ...path,
      "litestream",
      "replica",
      "secretAccessKeySecret",
    ]);
    checkAccessory(cfg, name, acc, ctx);
  }

  const edge = edgeOf(cfg);
  for (const [role, def] of Object.entries(cfg.servers)) {
    envSecrets(def.env, ["servers", role, "env"]);
    const proxy = resolveProxy(role, def, cfg.proxy, edge);
    if (!proxy) continue;
    const own = <K extends keyof RoleProxyConfig>(k: K) => typeof def.proxy === "object" && def.proxy[k] !== undefined;
    const sslPath = own("ssl") ? ["servers", role, "proxy", "ssl"] : ["proxy", "ssl"];
    const explicitSsl = own("ssl") && typeof def.proxy === "object" ? def.proxy.ssl : cfg.proxy.ssl;
    if (explicitSsl === true && def.hosts.length > 1) {
      ctx.addIssue({
        code: "custom",
        path: sslPath,
        message: `kamal-proxy can only obtain Let's Encrypt certificates for a role on a single host (each host would answer the HTTP challenge for the others' requests); role ${role} has ${def.hosts.length}. Set ssl: false (TLS ends at the load balancer) or, behind Cloudflare, ssl: ${ORIGIN_CERTIFICATE}`,
      });
    }
    if (proxy.origin && edge.dns?.provider !== "cloudflare") {
      ctx.addIssue({
        code: "custom",
        path: sslPath,
        message: `a Cloudflare Origin CA certificate is requested through the Cloudflare zone of berth:dns: set berth:dns.provider: cloudflare, or ssl: true for Let's Encrypt`,
      });
    }
    if (proxy.origin && edge.loadBalancer && role === edge.primary) {
      ctx.addIssue({
        code: "custom",
        path: sslPath,
        message: "TLS of the primary role ends at the load balancer; remove ssl or the load balancer",
      });
    }
    const hc = { ...cfg.proxy.healthcheck, ...(typeof def.proxy === "object" ? def.proxy.healthcheck : {}) };
    const deployTimeout = own("deployTimeout") || cfg.proxy.deployTimeout !== undefined;
    if (hc.maxAttempts !== undefined && deployTimeout) {
      ctx.addIssue({
        code: "custom",
        path: own("healthcheck")
          ? ["servers", role, "proxy", "healthcheck", "maxAttempts"]
          : ["proxy", "healthcheck", "maxAttempts"],
        message: `sets the deploy timeout (interval × maxAttempts), which deployTimeout sets too: keep one`,
      });
    }
    // kamal-proxy v0.9.2 refuses TLS on a service that does not include the root path
    // (internal/cmd/deploy.go: "TLS settings must be specified on the root path service"; path
    // prefixes are normalised to "/" plus the prefix without slashes, internal/server/service_map.go).
    if (proxy.ssl && proxy.pathPrefixes.length > 0 && !proxy.pathPrefixes.some((p) => /^\/*$/.test(p))) {
      const own = typeof def.proxy === "object" && def.proxy.pathPrefix !== undefined;
      ctx.addIssue({
        code: "custom",
        path: own ? ["servers", role, "proxy", "pathPrefix"] : ["proxy", "pathPrefix"],
        message: `role ${role} serves only ${proxy.pathPrefixes.join(", ")} with ssl on, which kamal-proxy refuses: it takes TLS settings only from the service on the root path. Set ssl: false on this role (TLS then ends at the load balancer, Cloudflare, or the app serving / on these host names), or remove pathPrefix`,
      });
    }
    if (proxy.ssl && proxy.hosts.length === 0) {
      ctx.addIssue({
        code: "custom",
        path: ["proxy", "hosts"],
        message: `role ${role} uses ssl, which needs the host names to certify: set berth:proxy.hosts or berth:dns.hosts`,
      });
    }
  }
  const roles = Object.fromEntries(
    Object.entries(cfg.servers).map(([role, def]) => [
      role,
      { hosts: def.hosts, proxied: def.proxy === undefined ? role === "web" : def.proxy !== false },
    ]),
  );
  for (const p of rolloutProblems({ ...cfg, roles })) ctx.addIssue({ code: "custom", ...p });
}

/**
 * BERTH_FINGERPRINT_KEY: required as soon as an app container receives a secret (an env secret
 * or a postgres accessory's DATABASE_URL), since the container's name then carries a keyed
 * fingerprint of it; when set, long enough to be a key rather than a password.
 */
function checkFingerprintKey(cfg: CheckedStack, ctx: z.RefinementCtx): void {
  const key = cfg.secrets[FINGERPRINT_KEY];
  const path = ["secrets", FINGERPRINT_KEY];
  if (key !== undefined) {
    if (key.length < 32) {
      ctx.addIssue({
        code: "custom",
        path,
        message: `must be a random key of at least 32 characters, not a password; set one with \`${FINGERPRINT_KEY_COMMAND}\``,
      });
    }
    return;
  }
  const receivers = Object.entries(cfg.servers).flatMap(([role, def]) =>
    Object.keys(mergeEnv(cfg.env, def.env, ...Object.values(cfg.env?.tags ?? {})).secret).map(
      (name) => `${name} (role ${role})`,
    ),
  );
  for (const [name, acc] of Object.entries(cfg.accessories ?? {}))
    if (acc.postgres && acc.postgres.databaseUrl !== false)
      receivers.push(`${acc.postgres.databaseUrl} (accessory ${name})`);
  if (receivers.length === 0) return;
  ctx.addIssue({
    code: "custom",
    path,
    message: `secret "${FINGERPRINT_KEY}" is not set; app containers receive secrets (${[...new Set(receivers)].join(", ")}), and berth names each container after a fingerprint of what it runs, keyed so the name reveals nothing about them. Set a random key once: \`${FINGERPRINT_KEY_COMMAND}\``,
  });
}

/** Placement, volume, port and kind rules of one accessory. */
function checkAccessory(cfg: CheckedStack, name: string, acc: AccessoryInput, ctx: z.RefinementCtx): void {
  const at = (...rest: (string | number)[]) => ["accessories", name, ...rest];
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
  const placements = (["host", "hosts", "roles"] as const).filter((k) => acc[k] !== undefined);
  if (placements.length !== 1) {
    issue(
      at(placements[1] ?? "host"),
      placements.length === 0
        ? "required: say where it runs with `host: <host>`, `hosts: [...]` or `roles: [...]`"
        : `set only one of host, hosts and roles (found ${placements.join(", ")})`,
    );
  }
  const hostNames = Object.keys(cfg.hosts);
  const checkHost = (h: string, path: (string | number)[]) => {
    if (!cfg.hosts[h]) {
      const hint = closest(h, hostNames);
      issue(path, `unknown host "${h}"; define it under berth:hosts${hint ? ` or did you mean "${hint}"?` : ""}`);
    }
  };
  if (acc.host !== undefined) checkHost(acc.host, at("host"));
  acc.hosts?.forEach((h, i) => checkHost(h, at("hosts", i)));
  acc.roles?.forEach((r, i) => {
    if (!cfg.servers[r]) issue(at("roles", i), `unknown role "${r}"; roles are ${Object.keys(cfg.servers).join(", ")}`);
  });
  const hosts = accessoryHosts(cfg, acc);

  if (acc.image === undefined && !acc.litestream) {
    issue(at("image"), "required: an image with a pinned tag, e.g. postgis/postgis:17-3.5 or redis:7.4");
  }
  if (acc.postgres && acc.litestream)
    issue(at("litestream"), "an accessory is either postgres or litestream, not both");
  if (acc.backup && !acc.postgres && !acc.litestream) {
    issue(at("backup"), "backups are for postgres and litestream accessories; remove it or add `postgres:`");
  }

  if (acc.volume !== undefined) {
    const host = hosts.length === 1 ? cfg.hosts[hosts[0]] : undefined;
    if (hosts.length !== 1) {
      issue(at("volume"), "a Hetzner volume belongs to one host: run the accessory on one `host`");
    } else if (host && !host.volumes?.[acc.volume]) {
      const known = Object.keys(host.volumes ?? {});
      issue(
        at("volume"),
        `host ${hosts[0]} has no volume "${acc.volume}"; add it under berth:hosts.${hosts[0]}.volumes${known.length ? ` (it has ${known.join(", ")})` : ""}`,
      );
    }
  }

  const published = acc.port === undefined ? undefined : parsePort(acc.port);
  if (published) {
    if (published.hostPort > 65535 || published.containerPort > 65535 || published.hostPort < 1) {
      issue(at("port"), "ports must lie between 1 and 65535");
    }
    if (published.bind === "private") {
      for (const h of hosts) {
        const host = cfg.hosts[h];
        if (host?.address !== undefined && host.privateAddress === undefined) {
          issue(
            at("port"),
            `host ${h} is an existing machine without privateAddress, so its private address is unknown: set berth:hosts.${h}.privateAddress or bind loopback with "127.0.0.1:${published.hostPort}:${published.containerPort}"`,
          );
        }
      }
    }
    const explicit = published.bind !== "private" && published.bind !== "loopback" ? published.bind : undefined;
    if (explicit && !privateAddress(explicit) && !acc.publicPort) {
      issue(
        at("port"),
        `binds ${explicit}, a public address: use "${published.hostPort}:${published.containerPort}" (private network) or "127.0.0.1:..." (loopback), or set publicPort: true if it must be public`,
      );
    }
  }

  const appHosts = hostsWithRoles(cfg.servers);
  if (acc.postgres && acc.postgres.databaseUrl !== false) {
    if (hosts.length > 1) issue(at("hosts"), "a postgres accessory with a DATABASE_URL runs on one host");
    const elsewhere = [...appHosts].some((h) => !hosts.includes(h));
    if (elsewhere && (!published || published.bind === "loopback")) {
      issue(
        at("port"),
        "required: the app runs on other hosts, which reach the database over the private network; set port: 5432 (or set postgres.databaseUrl: false)",
      );
    }
  }
  if (published && published.bind === "private") {
    // A Hetzner network lives in one zone: app hosts elsewhere reach no private address here.
    const zoneOf = (h: string) => {
      const location = cfg.hosts[h]?.location;
      return location ? LOCATIONS[location] : undefined;
    };
    const served = new Set(hosts.map(zoneOf));
    const anywhere = hosts.some((h) => cfg.hosts[h]?.address !== undefined);
    const cut = [...appHosts].filter((h) => zoneOf(h) !== undefined && !served.has(zoneOf(h)) && !anywhere);
    if (cut.length > 0 && hosts.every((h) => cfg.hosts[h]))
      issue(
        at(acc.host !== undefined ? "host" : acc.hosts ? "hosts" : "roles"),
        `app hosts ${cut.map((h) => `${h} (${zoneOf(h)})`).join(", ")} cannot reach it: it is published on the private network of ${[...served].join(", ")}, and a Hetzner network lives in one network zone. Run it on a host of that zone too (roles: [...] runs it beside each role host), or move those hosts into its zone`,
      );
  }
  if (acc.litestream) {
    hosts.forEach((h) => {
      if (cfg.hosts[h] && !appHosts.has(h)) {
        issue(
          at(acc.host !== undefined ? "host" : "hosts"),
          `Litestream runs beside the app's SQLite files, but host ${h} runs no role`,
        );
      }
    });
    const vol = acc.litestream.volume;
    if (!(cfg.volumes ?? []).some((v) => v.split(":")[0] === vol)) {
      issue(
        at("litestream", "volume"),
        `"${vol}" is not a volume of the app; add "${vol}:/rails/storage" to berth:volumes or name the app's volume`,
      );
    }
  }
}

// Computed once per config, not once per accessory: a large config has many of both.
const roleHosts = new WeakMap<object, Set<string>>();
function hostsWithRoles(servers: CheckedStack["servers"]): Set<string> {
  let set = roleHosts.get(servers);
  if (!set) roleHosts.set(servers, (set = new Set(Object.values(servers).flatMap((r) => r.hosts))));
  return set;
}

/** Hosts an accessory runs on, from host, hosts or roles. */
function accessoryHosts(cfg: Pick<CheckedStack, "servers">, acc: AccessoryInput): string[] {
  if (acc.host !== undefined) return [acc.host];
  if (acc.hosts) return [...new Set(acc.hosts)];
  return [...new Set((acc.roles ?? []).flatMap((r) => cfg.servers[r]?.hosts ?? []))];
}

/** A role's effective kamal-proxy settings, or undefined when the role is not proxied. */
export interface ResolvedProxy {
  hosts: string[];
  /** TLS at kamal-proxy: Let's Encrypt, or the certificate below. */
  ssl: boolean;
  /** TLS with a Cloudflare Origin CA certificate berth requests and installs. */
  origin?: boolean;
  /** Where kamal-proxy reads a certificate berth installs (paths in its container). */
  certificate?: { certificatePath: string; privateKeyPath: string };
  sslRedirect: boolean;
  appPort: number;
  healthcheck: { path: string; interval: number; timeout: number; port?: number };
  responseTimeout: number;
  buffering: {
    requests: boolean;
    responses: boolean;
    memory?: number;
    maxRequestBody?: number;
    maxResponseBody?: number;
  };
  forwardHeaders?: boolean;
  pathPrefixes: string[];
  deployTimeout: number;
  drainTimeout: number;
}

/** What decides where the primary role's traffic comes from: DNS and the load balancer. */
export interface Edge {
  /** The primary role; undefined for a stack without roles. */
  primary?: string;
  /** The role proxied unless its proxy is false: web, or the one berth:primaryRole names. */
  proxiedByDefault?: string;
  dns?: DnsConfig;
  /** Whether a Hetzner load balancer fronts the primary role. */
  loadBalancer: boolean;
}

/** Kamal's primary_role: the configured one, else web when there is one, else the first role. */
export function primaryRoleOf(cfg: { primaryRole?: string; servers: Record<string, unknown> }): string | undefined {
  const roles = Object.keys(cfg.servers);
  if (cfg.primaryRole !== undefined && roles.includes(cfg.primaryRole)) return cfg.primaryRole;
  return roles.includes("web") ? "web" : roles[0];
}

function edgeOf(cfg: CheckedStack): Edge {
  const primary = primaryRoleOf(cfg);
  const dns = resolveDns(cfg.dns);
  const hostCount = primary ? cfg.servers[primary].hosts.length : 0;
  const loadBalancer =
    primary !== undefined && (cfg.loadBalancer.enabled ?? (hostCount > 1 && dns?.provider === "hetzner"));
  return { primary, proxiedByDefault: cfg.primaryRole ?? (cfg.servers.web ? "web" : undefined), dns, loadBalancer };
}

function resolveProxy(role: string, def: RoleConfig, app: ProxyConfig, edge: Edge): ResolvedProxy | undefined {
  // As Kamal (configuration/role.rb): the primary role is proxied unless its proxy is false, other
  // roles only when set. Kamal's primary role is web unless named; a stack without web and without
  // berth:primaryRole (Kamal refuses one) proxies nothing by default, such as a stack of workers.
  const proxied = def.proxy === undefined ? role === edge.proxiedByDefault : def.proxy !== false;
  if (!proxied) return undefined;
  const over: RoleProxyConfig = typeof def.proxy === "object" ? def.proxy : {};
  const pick = <K extends keyof RoleProxyConfig>(k: K): RoleProxyConfig[K] =>
    over[k] !== undefined ? over[k] : app[k];
  const hosts = pick("hosts") ?? edge.dns?.hosts ?? [];
  const primary = role === edge.primary;
  // Behind the load balancer TLS ends there, so kamal-proxy serves plain HTTP.
  const behindLoadBalancer = primary && edge.loadBalancer;
  const behindCloudflare = primary && edge.dns?.proxied === true;
  const chosen = pick("ssl");
  const ssl =
    chosen === undefined ? !behindLoadBalancer && def.hosts.length === 1 && hosts.length > 0 : chosen !== false;
  const prefix = pick("pathPrefix");
  const interval = over.healthcheck?.interval ?? app.healthcheck?.interval ?? 1;
  const maxAttempts = over.healthcheck?.maxAttempts ?? app.healthcheck?.maxAttempts;
  const port = over.healthcheck?.port ?? app.healthcheck?.port;
  return {
    hosts,
    ssl,
    origin: chosen === ORIGIN_CERTIFICATE,
    sslRedirect: pick("sslRedirect") ?? true,
    appPort: pick("appPort") ?? 80,
    healthcheck: {
      path: over.healthcheck?.path ?? app.healthcheck?.path ?? "/up",
      interval,
      timeout: over.healthcheck?.timeout ?? app.healthcheck?.timeout ?? 5,
      ...(port !== undefined ? { port } : {}),
    },
    responseTimeout: pick("responseTimeout") ?? 30,
    buffering: {
      requests: true,
      responses: true,
      ...app.buffering,
      ...over.buffering,
    },
    // The client's address and scheme arrive in X-Forwarded-* from the load balancer or Cloudflare.
    forwardHeaders: pick("forwardHeaders") ?? (behindLoadBalancer || behindCloudflare ? true : undefined),
    pathPrefixes: prefix === undefined ? [] : Array.isArray(prefix) ? prefix : [prefix],
    deployTimeout: pick("deployTimeout") ?? (maxAttempts !== undefined ? interval * maxAttempts : 30),
    drainTimeout: pick("drainTimeout") ?? 30,
  };
}

/**
 * Where DNS points and whether a load balancer fronts the primary role: the choices that only
 * make sense together.
 */
function checkEdge(cfg: CheckedStack, ctx: z.RefinementCtx): void {
  const { primary, dns } = edgeOf(cfg);
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
  const hosts = primary ? cfg.servers[primary].hosts.filter((h) => cfg.hosts[h]) : [];
  const enabled = cfg.loadBalancer.enabled;
  if (enabled === true && !primary)
    issue(["loadBalancer", "enabled"], "a load balancer fronts the primary role, and berth:servers defines no role");
  else if (enabled === true && dns?.provider !== "hetzner")
    issue(
      ["loadBalancer", "enabled"],
      dns
        ? `the load balancer's Let's Encrypt certificate needs the zone in Hetzner DNS, and berth:dns.provider is ${dns.provider}: ${dns.provider === "cloudflare" ? "with proxied records Cloudflare spreads traffic over the hosts itself; set enabled: false" : "set berth:dns.provider: hetzner, or enabled: false"}`
        : "the load balancer's Let's Encrypt certificate needs the zone in Hetzner DNS: add berth:dns (zone and hosts), or set enabled: false",
    );
  const proxied = primary !== undefined && resolveProxy(primary, cfg.servers[primary], cfg.proxy, edgeOf(cfg));
  if (enabled === undefined && primary && hosts.length > 1 && !dns && proxied)
    issue(
      ["loadBalancer", "enabled"],
      `required: the primary role ${primary} has ${hosts.length} hosts; choose how traffic reaches them: true puts a Hetzner load balancer in front (add berth:dns with the zone in Hetzner DNS for its certificate), false lets each host's kamal-proxy answer on its own address (behind Cloudflare: add berth:dns with provider: cloudflare)`,
    );
  if (dns && primary && !proxied)
    issue(
      ["dns"],
      `the records point at the primary role's hosts, but role ${primary} runs without kamal-proxy: set berth:primaryRole to the role that serves the host names, or remove berth:dns`,
    );
  if (dns && !primary)
    issue(
      ["dns"],
      "the records point at the primary role's hosts, and berth:servers defines no role: remove berth:dns",
    );
}

/**
 * Hetzner Cloud hosts in several network zones: each zone gets its own private network, and the
 * zone that keeps the stack's first network must be named so adding a zone never renames it.
 */
function checkZones(cfg: CheckedStack, ctx: z.RefinementCtx): void {
  const zones = cloudZones(cfg);
  if (zones.length > 1 && cfg.network.zone === undefined)
    ctx.addIssue({
      code: "custom",
      path: ["network", "zone"],
      message: `required: Hetzner Cloud hosts span network zones ${zones.join(", ")}, and each zone gets its own private network; name the zone whose network the stack already has (the zone of its first hosts), so it keeps its name: one of ${zones.join(", ")}`,
    });
  if (cfg.network.zone !== undefined && zones.length > 0 && !zones.includes(cfg.network.zone))
    ctx.addIssue({
      code: "custom",
      path: ["network", "zone"],
      message: `no Hetzner Cloud host is in ${cfg.network.zone}; the hosts are in ${zones.join(", ")}`,
    });
}

/** Network zones of the stack's Hetzner Cloud hosts, in host order. */
function cloudZones(cfg: Pick<CheckedStack, "hosts">): NetworkZone[] {
  return [
    ...new Set(
      Object.values(cfg.hosts)
        .map((h) => (h.location ? LOCATIONS[h.location] : undefined))
        .filter((zone): zone is NetworkZone => zone !== undefined),
    ),
  ];
}

function cidrContains(outer: string, inner: string): boolean {
  const parse = (c: string) => {
    const [ip, bits] = c.split("/");
    const n = ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
    return { n, bits: Number(bits) };
  };
  const o = parse(outer);
  const i = parse(inner);
  if (i.bits < o.bits) return false;
  const size = 2 ** (32 - o.bits);
  return Math.floor(o.n / size) === Math.floor(i.n / size);
}

/** An environment variable and where its value comes from. */
export interface ResolvedEnv {
  clear: Record<string, string>;
  /** Variable name -> name of the berth:secrets entry holding its value. */
  secret: Record<string, string>;
}

/** Role env over app env, as Kamal merges them: a role's value wins for the same name. */
export function mergeEnv(...envs: (EnvConfig | undefined)[]): ResolvedEnv {
  const out: ResolvedEnv = { clear: {}, secret: {} };
  for (const env of envs) {
    for (const [k, v] of Object.entries(env?.clear ?? {})) {
      out.clear[k] = String(v);
      delete out.secret[k];
    }
    for (const entry of env?.secret ?? []) {
      const [name, secret] = entry.split(":");
      out.secret[name] = secret ?? name;
      delete out.clear[name];
    }
  }
  return out;
}

export interface Role {
  name: string;
  hosts: string[];
  /** Command words replacing the image's command. */
  cmd?: string[];
  env: ResolvedEnv;
  labels: Record<string, string>;
  options: ContainerOptions;
  logging?: { driver?: string; options?: Record<string, string | number> };
  /** Effective kamal-proxy settings; undefined for roles without proxy. */
  proxy?: ResolvedProxy;
  /** Hosts whose containers run with more env than `env` (berth:env.tags): host -> the whole env. */
  hostEnv: Record<string, ResolvedEnv>;
  /** Hosts with their own container labels (berth:hosts.<name>.containerLabels): host -> labels added. */
  hostLabels: Record<string, Record<string, string>>;
}

/** A file berth writes on the host and mounts into an accessory. */
export interface AccessoryFile {
  target: string;
  mode: string;
  content: string;
}

/** An accessory as components receive it: placement resolved, files read, kind settings applied. */
export interface Accessory {
  name: string;
  /** Container name and network alias: `<service>-<name>`, as Kamal names accessories. */
  container: string;
  image: string;
  hosts: string[];
  cmd?: string[];
  port?: AccessoryPort;
  env: ResolvedEnv;
  files: AccessoryFile[];
  /** `name:/path` (in the accessory's directory) or `/host/path:/path`. */
  directories: string[];
  volumes: string[];
  /** Hetzner volume of the (single) host that holds the accessory's directories. */
  volume?: string;
  options: ContainerOptions;
  labels: Record<string, string>;
  postgres?: AccessoryInput["postgres"] & {};
  litestream?: AccessoryInput["litestream"] & {};
  backup?: AccessoryInput["backup"] & {};
}

/** The validated configuration components receive. Secret values are not part of it. */
export interface DeployConfig {
  stack: string;
  service: string;
  image: string;
  version: string;
  hosts: Record<string, HostConfig>;
  /** Roles in deploy order: the primary role first, then the others as configured. */
  roles: Role[];
  /** The primary role (Kamal's primary_role); undefined for a stack without roles. */
  primaryRole?: string;
  servers: Record<string, { hosts: string[] }>;
  ssh: CheckedStack["ssh"];
  dns?: DnsConfig;
  network: CheckedStack["network"] & {
    /** The zone whose network keeps the stack's first network name; undefined without cloud hosts. */
    homeZone?: NetworkZone;
  };
  loadBalancer: Omit<CheckedStack["loadBalancer"], "enabled"> & { enabled: boolean };
  /** The server stack this stack attaches to (berth:attach). */
  attach?: { stack: string };
  registry?: CheckedStack["registry"];
  builder?: CheckedStack["builder"];
  volumes: string[];
  assetPath?: string;
  proxy: { image: string; manage: boolean; sharedHosts: string[] };
  boot: CheckedStack["boot"];
  hooksPath: string;
  retainContainers: number;
  readinessDelay: number;
  maintenance: CheckedStack["maintenance"];
  /** A version rolled out beside `version` (berth:canary, berth:rollout); none when no canary runs. */
  canary?: Canary;
  verify?: VerifyConfig;
  deployWindows?: DeployWindowsConfig;
  accessories: Accessory[];
  /** The user's own `berth` commands: name -> berth command line. */
  aliases: Record<string, string>;
  /** Names of the entries of berth:secrets; values travel separately, as Pulumi secrets. */
  secretNames: string[];
  /** What works but deserves the user's attention (shown as warnings on every run). */
  warnings: string[];
}

/** Turns the checked input into the shape components use (hosts resolved to cloud or existing). */
export function normalize(
  stack: string,
  cfg: CheckedStack & { version: string },
  readFile: (path: string) => string = () => {
    throw new Error("reading accessory files needs a file reader");
  },
  shared?: SharedServer,
): DeployConfig {
  const hosts: Record<string, HostConfig> = {};
  const names = new Names(cfg.service, stack, cfg.attach !== undefined);
  const accessories = Object.entries(cfg.accessories ?? {}).map(([name, acc]) =>
    normalizeAccessory(cfg, name, acc, readFile, names),
  );
  // A host running an accessory holds data: it is always protected.
  const holdsData = new Set(accessories.flatMap((a) => a.hosts));
  for (const [name, h0] of Object.entries(cfg.hosts)) {
    const h = holdsData.has(name) ? { ...h0, stateful: true } : h0;
    if (h.address !== undefined) {
      hosts[name] = {
        kind: "existing",
        name,
        address: h.address,
        ipv6: h.ipv6,
        privateAddress: h.privateAddress ?? h.address,
        stateful: h.stateful ?? false,
        hostKeys: (h.hostKeys ?? []).map((k) => parseHostKey(k)!),
      };
      const from = shared?.hosts[name];
      if (shared && from)
        hosts[name] = {
          ...hosts[name],
          kind: "existing",
          attached: {
            stack: shared.stack,
            generation: from.generation,
            proxy: from.proxy,
            zone: from.zone ?? undefined,
            ssh: shared.ssh,
          },
        };
    } else {
      hosts[name] = {
        kind: "cloud",
        name,
        serverType: h.serverType!,
        location: h.location!,
        image: h.image ?? "ubuntu-24.04",
        labels: h.labels ?? {},
        volumes: Object.fromEntries(
          Object.entries(h.volumes ?? {}).map(([v, vol]) => [
            v,
            { size: vol.size, format: vol.format, mountPath: vol.mountPath ?? `/mnt/berth/${v}` },
          ]),
        ),
        privateIp: h.privateIp,
        stateful: h.stateful ?? false,
        hostKeys: (h.hostKeys ?? []).map((k) => parseHostKey(k)!),
        replace: h.replace,
      };
    }
  }
  const edge = edgeOf(cfg);
  const primary = edge.primary;
  const order = primary ? [primary, ...Object.keys(cfg.servers).filter((r) => r !== primary)] : [];
  const roles: Role[] = order.map((name) => {
    const def = cfg.servers[name];
    const proxy = resolveProxy(name, def, cfg.proxy, edge);
    if (proxy?.origin) proxy.certificate = proxyCertificatePaths(cfg.service, name, stack);
    const hostEnv: Record<string, ResolvedEnv> = {};
    const hostLabels: Record<string, Record<string, string>> = {};
    for (const host of def.hosts) {
      const tagEnvs = (cfg.hosts[host]?.tags ?? []).map((t) => cfg.env?.tags?.[t]).filter((e) => e !== undefined);
      if (tagEnvs.length > 0) hostEnv[host] = mergeEnv(cfg.env, def.env, ...tagEnvs);
      const labels = cfg.hosts[host]?.containerLabels;
      if (labels && Object.keys(labels).length > 0) hostLabels[host] = labels;
    }
    return {
      name,
      hosts: def.hosts,
      cmd: def.cmd ? commandWords(def.cmd) : undefined,
      env: mergeEnv(cfg.env, def.env),
      labels: def.labels ?? {},
      options: containerOptions(def.options ?? {}),
      logging: def.logging,
      proxy,
      hostEnv,
      hostLabels,
    };
  });
  const zones = cloudZones(cfg);
  return {
    stack,
    service: cfg.service,
    image: cfg.image ?? "",
    version: cfg.version,
    hosts,
    primaryRole: primary,
    servers: cfg.servers,
    ssh: cfg.ssh,
    dns: edge.dns,
    network: { ...cfg.network, homeZone: cfg.network.zone ?? zones[0] },
    loadBalancer: { ...cfg.loadBalancer, enabled: edge.loadBalancer },
    attach: cfg.attach,
    roles,
    registry: cfg.registry,
    builder: cfg.builder,
    volumes: (cfg.volumes ?? []).map((v) => names.mount(v)),
    assetPath: cfg.assetPath,
    proxy: { image: cfg.proxy.image, manage: cfg.proxy.manage, sharedHosts: cfg.proxy.sharedHosts ?? [] },
    boot: cfg.boot,
    hooksPath: cfg.hooks.path,
    retainContainers: cfg.retainContainers,
    readinessDelay: cfg.readinessDelay,
    maintenance: cfg.maintenance,
    canary: canaryOf(cfg.canary, cfg.rollout),
    verify: cfg.verify,
    deployWindows: cfg.deployWindows,
    accessories,
    aliases: cfg.aliases ?? {},
    secretNames: Object.keys(cfg.secrets),
    warnings: edgeWarnings(roles, edge),
  };
}

/**
 * Where kamal-proxy reads a certificate berth installs for a role: in its own state volume
 * (kamal-proxy-config), which outlives the proxy container, one directory per service.
 */
export function proxyCertificatePaths(service: string, role: string, stack: string) {
  const dir = `${PROXY_STATE_DIR}/berth-tls/${service}-${role}-${stack}`;
  return { certificatePath: `${dir}/cert.pem`, privateKeyPath: `${dir}/key.pem` };
}

/** Where the kamal-proxy image keeps its state; berth mounts the kamal-proxy-config volume there. */
export const PROXY_STATE_DIR = "/home/kamal-proxy/.config/kamal-proxy";

/**
 * Names of what an app puts on a host. A stack attached to a server stack shares the host with
 * other apps, so its docker volumes and accessory containers carry its service and stack: two apps
 * both writing `storage:/rails/storage` get two volumes. A stack on its own hosts keeps Kamal's names.
 */
class Names {
  constructor(
    private readonly service: string,
    private readonly stack: string,
    private readonly attached: boolean,
  ) {}

  volume(name: string): string {
    return this.attached ? `${this.service}-${this.stack}-${name}` : name;
  }

  /** A mount spec with its docker volume renamed (host paths stay). */
  mount(spec: string): string {
    if (spec.startsWith("/")) return spec;
    const i = spec.indexOf(":");
    return `${this.volume(spec.slice(0, i))}${spec.slice(i)}`;
  }

  accessory(name: string): string {
    return this.attached ? `${this.service}-${this.stack}-${name}` : `${this.service}-${name}`;
  }
}

/** How the primary role's TLS behind Cloudflare works, when it only works with Cloudflare's help. */
function edgeWarnings(roles: Role[], edge: Edge): string[] {
  const role = roles.find((r) => r.name === edge.primary);
  if (!role?.proxy || !edge.dns?.proxied) return [];
  const names = role.proxy.hosts.join(", ");
  if (role.proxy.ssl && !role.proxy.origin)
    return [
      `role ${role.name} gets Let's Encrypt certificates for ${names} behind proxied Cloudflare records: Let's Encrypt's HTTP challenge must reach the server through Cloudflare on port 80, so no "Always Use HTTPS" redirect, page rule or WAF rule may catch /.well-known/acme-challenge/, now and at every renewal. ssl: cloudflare-origin needs none of that.`,
    ];
  if (!role.proxy.ssl)
    return [
      `role ${role.name} serves plain HTTP behind proxied Cloudflare records: set the zone's SSL/TLS mode to Flexible (Full and Full (strict) reach port 443 and fail with 525), and know that Flexible sends visitors' traffic between Cloudflare and the server unencrypted. ssl: cloudflare-origin with Full (strict) encrypts it.`,
    ];
  return [];
}

export type { RawStack };

/** Kamal's `local:remote` file entries and berth's object form, read into their content. */
function accessoryFiles(acc: AccessoryInput, readFile: (path: string) => string): AccessoryFile[] {
  return (acc.files ?? []).map((f) => {
    if (typeof f === "string") {
      const i = f.indexOf(":");
      return { target: f.slice(i + 1), mode: "0644", content: readFile(f.slice(0, i)) };
    }
    return { target: f.target, mode: f.mode, content: f.content ?? readFile(f.source!) };
  });
}

/** Local files accessories upload, with the config path of each, for checking before anything runs. */
export function accessoryFileSources(cfg: CheckedStack): { path: string; source: string }[] {
  return Object.entries(cfg.accessories ?? {}).flatMap(([name, acc]) =>
    (acc.files ?? []).flatMap((f, i) => {
      const source = typeof f === "string" ? f.slice(0, f.indexOf(":")) : f.source;
      return source === undefined ? [] : [{ path: `accessories.${name}.files[${i}]`, source }];
    }),
  );
}

function normalizeAccessory(
  cfg: CheckedStack,
  name: string,
  acc: AccessoryInput,
  readFile: (path: string) => string,
  names: Names,
): Accessory {
  const env = mergeEnv(acc.env);
  const directories = [...(acc.directories ?? [])];
  const pg = acc.postgres;
  if (pg) {
    env.clear.POSTGRES_DB = pg.database;
    env.clear.POSTGRES_USER = pg.user;
    // The password comes from a file berth writes, so rotating it changes no container input: a
    // running database gets it through psql instead (components/accessory.ts).
    env.clear.POSTGRES_PASSWORD_FILE = POSTGRES_PASSWORD_FILE;
    const dataDir = "/var/lib/postgresql/data";
    const mounted = [...directories, ...(acc.volumes ?? [])].some((m) => m.split(":")[1] === dataDir);
    if (!mounted) directories.push(`data:${dataDir}`);
  }
  const ls = acc.litestream ? { ...acc.litestream, volume: names.volume(acc.litestream.volume) } : undefined;
  if (ls) {
    env.secret.LITESTREAM_ACCESS_KEY_ID = ls.replica.accessKeyIdSecret;
    env.secret.LITESTREAM_SECRET_ACCESS_KEY = ls.replica.secretAccessKeySecret;
  }
  const cmd = acc.cmd ?? (ls ? "replicate -config /etc/litestream.yml" : undefined);
  return {
    name,
    container: names.accessory(name),
    image: acc.image ?? LITESTREAM_IMAGE,
    hosts: accessoryHosts(cfg, acc),
    cmd: cmd ? commandWords(cmd) : undefined,
    port: acc.port === undefined ? undefined : parsePort(acc.port),
    env,
    files: accessoryFiles(acc, readFile),
    directories,
    volumes: [...(acc.volumes ?? []).map((v) => names.mount(v)), ...(ls ? [`${ls.volume}:/data`] : [])],
    volume: acc.volume,
    options: containerOptions(acc.options ?? {}),
    labels: acc.labels ?? {},
    postgres: pg,
    litestream: ls,
    backup: acc.backup,
  };
}
