import { Properties } from "../plan/properties";

// Realistic edits of the example stacks, applied to the decoded `berth:` config the engine would
// pass (`berth:hosts` -> object, `berth:version` -> string). Each says which resources it is about:
// the only data-holding ones it may replace or delete.

export type StackConfig = Properties;

export interface ConfigChange {
  id: string;
  title: string;
  /** Edits the config in place; returns false when the change makes no sense for this stack. */
  apply(stack: string, config: StackConfig): boolean;
  /** Logical names of the resources the change is explicitly about (default: none). */
  about?: (name: string) => boolean;
}

/** The host each example stack keeps its data on. */
const DATA_HOST: Record<string, string> = { production: "db-1", staging: "staging-1" };
const ROTATED_KEY =
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIRotatedBerthExampleKeyReplaceWithYourOwn00 deploy@example.com";

export const CHANGES: ConfigChange[] = [
  {
    id: "version",
    title: "deploy a new app version",
    apply: (_s, c) => ((c["berth:version"] = "2026.11.2"), true),
  },
  {
    id: "env",
    title: "change a clear env value",
    apply: (_s, c) => ((c["berth:env"].clear.RAILS_LOG_TO_STDOUT = "0"), true),
  },
  {
    id: "secret",
    title: "rotate a secret value",
    apply: (_s, c) => ((c["berth:secrets"].RAILS_MASTER_KEY += "-rotated"), true),
  },
  {
    id: "add-web-host",
    title: "add a host to the web role",
    apply: (stack, c) => {
      const name = stack === "production" ? "web-3" : "staging-2";
      c["berth:hosts"][name] = { serverType: "cx23", location: "fsn1" };
      c["berth:servers"].web.hosts.push(name);
      return true;
    },
  },
  {
    id: "remove-host",
    title: "remove a web host",
    apply: (stack, c) => {
      if (stack !== "production") return false;
      delete c["berth:hosts"]["web-2"];
      c["berth:servers"].web.hosts = c["berth:servers"].web.hosts.filter((h: string) => h !== "web-2");
      return true;
    },
    about: (name) => name.startsWith("web-2-"),
  },
  {
    id: "server-type",
    title: "resize the data host (server type)",
    apply: (stack, c) => ((c["berth:hosts"][DATA_HOST[stack]].serverType = "cx43"), true),
  },
  {
    id: "bootstrap",
    title: "change bootstrap text (SSH user in cloud-init)",
    apply: (_s, c) => ((c["berth:ssh"].user = "deploy"), true),
  },
  {
    id: "host-image",
    title: "change the data host's OS image",
    apply: (stack, c) => ((c["berth:hosts"][DATA_HOST[stack]].image = "debian-12"), true),
  },
  {
    id: "ssh-key",
    title: "change the SSH key",
    apply: (_s, c) => ((c["berth:ssh"].publicKey = ROTATED_KEY), true),
  },
  {
    id: "accessory-image",
    title: "change an accessory's image",
    apply: (stack, c) => {
      if (stack === "production") c["berth:accessories"].db.image = "postgis/postgis:17-3.6";
      else c["berth:accessories"].litestream.image = "litestream/litestream:0.3.14";
      return true;
    },
  },
  {
    id: "add-accessory",
    title: "add an accessory (Redis)",
    apply: (stack, c) => {
      const host = stack === "production" ? "job-1" : "staging-1";
      c["berth:accessories"].redis = { image: "redis:7.4", host, port: "127.0.0.1:6379:6379" };
      return true;
    },
  },
  {
    id: "database-password",
    title: "rotate the database password",
    apply: (_s, c) => {
      if (c["berth:secrets"].POSTGRES_PASSWORD === undefined) return false;
      c["berth:secrets"].POSTGRES_PASSWORD += "-rotated";
      return true;
    },
  },
  {
    id: "domains",
    title: "add a public host name",
    apply: (stack, c) => (
      c["berth:dns"].hosts.push(stack === "production" ? "app.example.com" : "beta.example.com"),
      true
    ),
  },
  {
    id: "dns-ttl",
    title: "change the DNS TTL",
    apply: (_s, c) => ((c["berth:dns"].ttl = 600), true),
  },
  {
    id: "maintenance",
    title: "turn maintenance mode on",
    apply: (_s, c) => ((c["berth:maintenance"] = { enabled: true, message: "Back soon" }), true),
  },
  {
    id: "healthcheck",
    title: "change the proxy health check",
    apply: (_s, c) => {
      c["berth:proxy"] = { ...(c["berth:proxy"] ?? {}), healthcheck: { path: "/healthz", interval: 2, timeout: 3 } };
      return true;
    },
  },
  {
    id: "move-data-host",
    title: "move the data host to another location",
    apply: (stack, c) => ((c["berth:hosts"][DATA_HOST[stack]].location = "nbg1"), true),
    about: (name) => /^(db-1|staging-1)-/.test(name),
  },
];
