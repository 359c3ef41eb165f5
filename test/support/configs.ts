// The configurations the unit tests start from, as a user writes them under `berth:` (without the
// prefix): a minimal valid one, the richer app and accessory ones built on it, and one render of
// such a configuration through the program under mocks.
import { parseConfig } from "../../config/load";
import { secretsFrom } from "../../config/stack";
import { deploy, stackOutputs, StackOutputs } from "../../components/deployment";
import { run } from "./harness";

/** The public key every test configuration authorizes (never a real one). */
export const TEST_PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITestKey test@example.com";

/** A host key an existing machine presents. */
export const TEST_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA+3GwnnUZfz5NzZZaJINVcpWnrsnndHiNL6VBVuKuWM";

/** A configuration as a test builds it: any shape, so a case can break it. */
export type RawConfig = Record<string, any>;

/** What a test case does to a configuration before it is used. */
export type Change = (c: RawConfig) => void;

function changed(config: RawConfig, change?: Change): RawConfig {
  change?.(config);
  return config;
}

/** The smallest valid configuration: one Hetzner host running the web role at `version`. */
export function minimalConfig(version: string): RawConfig {
  return {
    service: "shop",
    image: "ghcr.io/acme/shop",
    version,
    hosts: { "web-1": { serverType: "cx23", location: "fsn1" } },
    servers: { web: { hosts: ["web-1"] } },
    ssh: { publicKey: TEST_PUBLIC_KEY },
  };
}

/**
 * The app with every option that reaches its containers (v42): a web and a job role on hosts of
 * their own, env with a secret, a private registry, volumes, assets and DNS; `change` applied.
 */
export function appConfig(change?: Change): RawConfig {
  return changed(
    {
      ...minimalConfig("v42"),
      hosts: {
        "web-1": { serverType: "cx23", location: "fsn1" },
        "job-1": { serverType: "cx23", location: "fsn1" },
      },
      servers: {
        web: {
          hosts: ["web-1"],
          options: { memory: "2g", cpus: 1.5, ulimit: ["nofile=1024:2048"], "add-host": "db:10.0.1.10" },
          labels: { team: "checkout" },
        },
        job: {
          hosts: ["job-1"],
          cmd: 'bin/jobs --queue "mail and more"',
          logging: { driver: "json-file", options: { "max-size": "50m" } },
        },
      },
      env: { clear: { RAILS_LOG_TO_STDOUT: 1 }, secret: ["RAILS_MASTER_KEY"] },
      registry: { server: "ghcr.io", username: "acme", passwordSecret: "REGISTRY_TOKEN" },
      volumes: ["storage:/rails/storage", "/srv/uploads:/rails/public/uploads:ro"],
      assetPath: "/rails/public/assets",
      dns: { zone: "example.com", hosts: ["shop.example.com"] },
      secrets: {
        RAILS_MASTER_KEY: "sentinel-master-key-1",
        REGISTRY_TOKEN: "sentinel-registry-2",
        BERTH_FINGERPRINT_KEY: "0123456789abcdef0123456789abcdef-test-key",
      },
    },
    change,
  );
}

/**
 * The app (v1) with accessories: PostGIS on a volume of its own data server, and a Redis beside
 * the app with a command, a directory, a file, env with a secret and options; `change` applied.
 */
export function accessoryConfig(change?: Change): RawConfig {
  return changed(
    {
      ...minimalConfig("v1"),
      hosts: {
        "web-1": { serverType: "cx23", location: "fsn1" },
        "db-1": { serverType: "cx33", location: "fsn1", privateIp: "10.0.1.10", volumes: { pgdata: { size: 20 } } },
      },
      volumes: ["storage:/rails/storage"],
      accessories: {
        db: {
          image: "postgis/postgis:17-3.5",
          host: "db-1",
          port: 5432,
          volume: "pgdata",
          postgres: { database: "shop", user: "shop", passwordSecret: "PG_PASS", extensions: ["postgis"] },
          backup: { keep: 3 },
        },
        redis: {
          image: "redis:7.4",
          host: "web-1",
          port: "127.0.0.1:6379:6379",
          cmd: "redis-server /usr/local/etc/redis/redis.conf",
          directories: ["data:/data"],
          files: [{ content: "maxmemory 100mb\n", target: "/usr/local/etc/redis/redis.conf", mode: "0600" }],
          env: { clear: { REDIS_ARGS: "--save 60 1" }, secret: ["REDIS_PASSWORD"] },
          options: { memory: "256m" },
        },
      },
      secrets: {
        PG_PASS: "sentinel p@ss/word",
        REDIS_PASSWORD: "sentinel-redis",
        BERTH_FINGERPRINT_KEY: "fingerprint-key-of-the-accessory-tests",
      },
    },
    change,
  );
}

/**
 * A configuration rendered through the deployment under mocks, its `secrets` given as the stack's
 * secrets: what was registered, the resolved outputs, and the stack outputs as the program built
 * them.
 */
export async function renderConfig(raw: RawConfig, stack = "production") {
  const cfg = parseConfig(raw, stack);
  let outputs!: StackOutputs;
  const result = await run({
    stack,
    program: () => (outputs = stackOutputs(cfg, deploy(cfg, secretsFrom(raw.secrets ?? {})))),
  });
  return { ...result, stackOutputs: outputs };
}
