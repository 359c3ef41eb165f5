// What the fleet's API accepts: who may ask (roles), and the requests that register a server,
// change one and submit a deployment, each field described for the OpenAPI document.
import { z } from "zod";
import { parseRequest } from "./problems";
import { InputError } from "./templates";
import { maintenanceWindowSchema } from "./windows";

export const ROLES = ["viewer", "deployer", "admin"] as const;
export type Role = (typeof ROLES)[number];
export interface Actor {
  name: string;
  role: Role;
}
export const STATUSES = ["pending", "deploying", "deployed", "failed", "rolled_back", "cancelled"] as const;

const NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;
const nameSchema = (what: string) =>
  z.string().regex(NAME, `must be a lowercase ${what}: letters, digits and dashes, at most 32 characters`);

const HOST_KEYS_HELP =
  "SSH host keys of an existing machine, one per line as `ssh-keyscan -t ed25519 ADDRESS` prints them (or as its /etc/ssh/ssh_host_ed25519_key.pub holds them): berth verifies the machine with them instead of trusting the first key it sees.";

export const serverInputSchema = z.strictObject({
  name: nameSchema("server name"),
  kind: z
    .enum(["existing", "hetzner"])
    .describe("An existing machine by address, or a Hetzner Cloud server berth creates."),
  address: z.string().optional().describe("Public address of an existing machine."),
  ipv6: z.string().optional(),
  privateAddress: z.string().optional(),
  hostKeys: z.array(z.string()).optional().describe(`Required for an existing machine. ${HOST_KEYS_HELP}`),
  serverType: z.string().optional().describe("Hetzner server type, e.g. cx23."),
  location: z.string().optional().describe("Hetzner location, e.g. fsn1."),
  hetznerKeyName: z
    .string()
    .optional()
    .describe(
      "Required for a Hetzner Cloud server: the name under which sshPublicKey is registered in the Hetzner project (`hcloud ssh-key create --name deploy --public-key-from-file ~/.ssh/id_ed25519.pub`). Hetzner accepts a public key once per project, and the fleet's stacks share it.",
    ),
  sshUser: z.string().default("root"),
  sshPort: z.number().int().min(1).max(65535).default(22),
  sshPublicKey: z.string().min(1).describe("Public key installed on Hetzner servers and expected by existing ones."),
  maintenanceWindow: maintenanceWindowSchema.optional(),
});
export type ServerInput = z.input<typeof serverInputSchema>;

export const serverUpdateSchema = z.strictObject({
  hostKeys: z
    .array(z.string())
    .optional()
    .describe(`New host keys of an existing machine (after a reinstall, say). ${HOST_KEYS_HELP}`),
  replace: z
    .enum(["unprotect", "rebuild"])
    .nullable()
    .optional()
    .describe(
      "Replacing a Hetzner Cloud server on purpose, on the next deploy of the stack that creates it: `unprotect` lifts its protection, `rebuild` also builds it from today's bootstrap, image and SSH key (berth's `replace`, see docs/protecting-data.md, Replacing a server). null: protected again.",
    ),
  maintenanceWindow: maintenanceWindowSchema.nullable().optional().describe("null: no maintenance window."),
});

export const deployInputSchema = z.strictObject({
  app: nameSchema("app name"),
  environment: nameSchema("environment name"),
  template: z.string(),
  servers: z.array(z.string()).min(1, "choose at least one server"),
  variables: z.record(z.string(), z.unknown()),
  secrets: z
    .record(
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a variable name such as RAILS_MASTER_KEY"),
      z.string().min(1),
    )
    .optional()
    .describe("Secret values, stored only as Pulumi secrets of the app's stack."),
  scheduledAt: z.iso.datetime({ offset: true }).optional().describe("Start no earlier than this time."),
  maintenanceWindow: z.boolean().optional().describe("Start in the next maintenance window of the first server."),
});
export type DeployInput = z.input<typeof deployInputSchema>;

/** The request as its schema reads it, or an InputError naming each problem's field. */
export function checkRequest<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const parsed = parseRequest(schema, input);
  if (parsed.problems) throw new InputError(parsed.problems);
  return parsed.value;
}
