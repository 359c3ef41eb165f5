// Several apps on one server: a server stack owns the hosts and their kamal-proxy and exports them
// as its `shared` output; an app stack names that stack in berth:attach and reads the output
// through a Pulumi stack reference, so no address is ever copied from one stack file to another.
import { z } from "zod";

export const attachSchema = z
  .strictObject({
    stack: z
      .string()
      .regex(
        /^([A-Za-z0-9_.-]+\/){0,2}[A-Za-z0-9_.-]+$/,
        "must be a stack name as `pulumi stack ls` shows it: shared, or org/project/stack on Pulumi Cloud",
      )
      .describe(
        "The server stack, as a stack reference names it: its bare name on a self-managed backend (file://, s3://), `<org>/<project>/<stack>` on Pulumi Cloud.",
      ),
  })
  .describe(
    "Run this app on hosts of a server stack (one with berth:proxy.sharedHosts), behind the kamal-proxy it runs there. Roles and accessories name those hosts as the server stack does; this stack creates no server and no kamal-proxy, and its own container, volume and route names carry its service and stack, so removing it never touches another app.",
  );

/** One host a server stack shares, as its `shared` output holds it. */
const sharedHost = z.object({
  ipv4: z.string().min(1),
  ipv6: z.string().nullish(),
  privateIp: z.string(),
  hostKey: z.string().min(1),
  /** Changes when the machine behind the host changes (a replaced server). */
  generation: z.string().min(1),
  /** Id of the kamal-proxy container: a new one (replaced server or proxy) re-asserts every route. */
  proxy: z.string().min(1),
  /** Hetzner network zone of a cloud server; absent for an existing machine. */
  zone: z.string().nullish(),
});

/** What a server stack exports for app stacks to attach with (components/deployment.ts). */
export const sharedOutputSchema = z.object({
  ssh: z.object({ user: z.string().min(1), port: z.number().int() }),
  hosts: z.record(z.string(), sharedHost),
});
export type SharedServer = z.output<typeof sharedOutputSchema> & { stack: string };

/** Why the server stack's output cannot be used, or undefined when it can. */
export function sharedProblem(stack: string, output: unknown): string | undefined {
  if (output === undefined || output === null)
    return `stack ${stack} exports no shared hosts: deploy it first (pulumi up --stack ${stack}), with berth:proxy.sharedHosts listing the hosts apps may use`;
  if (!sharedOutputSchema.safeParse(output).success)
    return `the shared output of stack ${stack} is not what a berth server stack exports: is ${stack} a berth stack with berth:proxy.sharedHosts, deployed by this version of berth?`;
  return undefined;
}

/**
 * The raw config with the server stack's hosts added as existing machines, so every rule of the
 * schema (role hosts, accessory placement, addresses) checks them like the stack's own. Returns
 * the problems instead when a name is taken twice.
 */
export function withSharedHosts(
  raw: Record<string, unknown>,
  shared: SharedServer,
): { raw: Record<string, unknown> } | { problems: string[] } {
  const own = (raw.hosts && typeof raw.hosts === "object" ? raw.hosts : {}) as Record<string, unknown>;
  const clash = Object.keys(own).filter((h) => h in shared.hosts);
  if (clash.length > 0)
    return {
      problems: clash.map(
        (h) =>
          `berth:hosts.${h}: the server stack ${shared.stack} shares a host of this name; rename this stack's host (roles use the server stack's ${h} as it is)`,
      ),
    };
  const hosts: Record<string, unknown> = { ...own };
  for (const [name, h] of Object.entries(shared.hosts))
    hosts[name] = {
      address: h.ipv4,
      ...(h.ipv6 ? { ipv6: h.ipv6 } : {}),
      ...(h.privateIp ? { privateAddress: h.privateIp } : {}),
      hostKeys: [h.hostKey],
    };
  return { raw: { ...raw, hosts } };
}

/** Key data of type ssh-ed25519 that is no machine's key: offline reads only. */
const OFFLINE_HOST_KEY = Buffer.concat(
  [Buffer.from("ssh-ed25519"), Buffer.from("ServerStackHostKeyReadAtDeploy!!")].map((b) =>
    Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]),
  ),
).toString("base64");

/**
 * Offline (berth plan, berth doctor, the fleet's checks), the server stack's outputs are unknown:
 * every host the roles and accessories name that this stack does not define stands for one of its
 * hosts, so the rest of the configuration is still checked. The program itself always reads the
 * real outputs (config/stack.ts).
 */
export function offlineSharedServer(raw: Record<string, unknown>): SharedServer | undefined {
  const attach = raw.attach as { stack?: unknown } | undefined;
  if (!attach || typeof attach !== "object" || typeof attach.stack !== "string") return undefined;
  const own = new Set(Object.keys(raw.hosts && typeof raw.hosts === "object" ? raw.hosts : {}));
  const named = new Set<string>();
  const add = (v: unknown) => {
    if (typeof v === "string" && !own.has(v)) named.add(v);
  };
  for (const role of Object.values((raw.servers ?? {}) as Record<string, { hosts?: unknown }>))
    if (role && Array.isArray(role.hosts)) role.hosts.forEach(add);
  for (const acc of Object.values((raw.accessories ?? {}) as Record<string, { host?: unknown; hosts?: unknown }>)) {
    if (!acc) continue;
    add(acc.host);
    if (Array.isArray(acc.hosts)) acc.hosts.forEach(add);
  }
  const hosts: SharedServer["hosts"] = {};
  [...named].forEach((name, i) => {
    hosts[name] = {
      ipv4: `198.51.100.${(i % 250) + 1}`,
      privateIp: "",
      hostKey: `ssh-ed25519 ${OFFLINE_HOST_KEY}`,
      generation: "offline",
      proxy: "offline",
    };
  });
  return { stack: attach.stack, ssh: { user: "root", port: 22 }, hosts };
}
