// The input schema of a whole stack: every berth:* key, as written, with its default and its
// description. Sections with many keys live beside it (./hosts and the config/ section files);
// the rules spanning several keys, which the schema runs last, are in ./rules.
import { z } from "zod";
import {
  aliasesSchema,
  bootSchema,
  builderSchema,
  hooksSchema,
  maintenanceSchema,
  mountSpecSchema,
  proxySchema,
  registrySchema,
  roleSchema,
  rootEnvSchema,
  secretName,
} from "../app";
import { accessoriesSchema } from "../accessory";
import { attachSchema } from "../attach";
import { dnsSchema } from "../dns";
import { deployWindowsSchema, rolloutSchema, verifySchema } from "../rollout";
import { cidr, hostInput, hostName, locationNames, NETWORK_ZONES } from "./hosts";
import { crossCheck, FINGERPRINT_KEY, FINGERPRINT_KEY_COMMAND } from "./rules";

/** An image tag or digest: what berth:version and berth:canary name. */
const versionSchema = z
  .string()
  .regex(
    /^([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|sha256:[a-f0-9]{64})$/,
    "must be an image tag (e.g. 2024-06-01.3 or a git sha) or a digest sha256:<64 hex digits>",
  );

const roleName = z.string().regex(/^[a-z][a-z0-9_-]*$/, "must be a lowercase role name such as web or job");

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

export type RawStack = z.input<typeof stackSchema>;
export type CheckedStack = z.output<typeof stackSchema>;
