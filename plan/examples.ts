// The example stacks as the engine would pass them, with stand-in secrets, and the real program
// rendered from them (plan/render.ts): what the tests, the safety matrix and the bench start from.
import * as path from "node:path";
import { readStackFile } from "../config/load";
import { runIndex as renderIndex } from "./render";

export const ROOT = path.resolve(__dirname, "..");

/** Test stand-in for each encrypted value of a stack file, distinct per config path. */
export const testSecret = (p: string) => `test-secret-value-for-${p}`;

/**
 * The secrets each example stack names. They are never committed: the README tells users to
 * set them, and the tests set these stand-ins the same way (`berth:secrets`, a secret key).
 */
export const EXAMPLE_SECRETS: Record<string, string[]> = {
  staging: [
    "KAMAL_REGISTRY_PASSWORD",
    "RAILS_MASTER_KEY",
    "LITESTREAM_ACCESS_KEY_ID",
    "LITESTREAM_SECRET_ACCESS_KEY",
    "BERTH_FINGERPRINT_KEY",
  ],
  production: ["KAMAL_REGISTRY_PASSWORD", "RAILS_MASTER_KEY", "POSTGRES_PASSWORD", "BERTH_FINGERPRINT_KEY"],
  cloudflare: ["KAMAL_REGISTRY_PASSWORD", "RAILS_MASTER_KEY", "BERTH_FINGERPRINT_KEY"],
  blog: [
    "KAMAL_REGISTRY_PASSWORD",
    "RAILS_MASTER_KEY",
    "LITESTREAM_ACCESS_KEY_ID",
    "LITESTREAM_SECRET_ACCESS_KEY",
    "BERTH_FINGERPRINT_KEY",
  ],
  shop: [
    "KAMAL_REGISTRY_PASSWORD",
    "RAILS_MASTER_KEY",
    "LITESTREAM_ACCESS_KEY_ID",
    "LITESTREAM_SECRET_ACCESS_KEY",
    "BERTH_FINGERPRINT_KEY",
  ],
};

/**
 * The stacks under examples/, each a topology of its own, by stack name: the file a user copies
 * beside Pulumi.yaml. The shared server's app stacks (blog, shop) attach to the stack apps.
 */
export const EXAMPLES: Record<string, string> = {
  cloudflare: "examples/cloudflare/Pulumi.cloudflare.yaml",
  apps: "examples/shared-server/Pulumi.apps.yaml",
  blog: "examples/shared-server/Pulumi.blog.yaml",
  shop: "examples/shared-server/Pulumi.shop.yaml",
  workers: "examples/workers/Pulumi.workers.yaml",
  regions: "examples/regions/Pulumi.regions.yaml",
};

/**
 * Loads a real Pulumi.<stack>.yaml (at the root, or the example of that name) plus its secrets,
 * optionally changed, as the engine would pass it.
 */
export function stackConfig(stack: string, change?: (config: Record<string, unknown>) => void) {
  const file = readStackFile(path.join(ROOT, EXAMPLES[stack] ?? `Pulumi.${stack}.yaml`), testSecret);
  if (!file.config["berth:secrets"]) {
    const secrets = Object.fromEntries(
      (EXAMPLE_SECRETS[stack] ?? []).map((n) => [n, testSecret(`berth:secrets.${n}`)]),
    );
    file.config["berth:secrets"] = JSON.stringify(secrets);
    file.secretKeys.push("berth:secrets");
  }
  if (!change) return file;
  const decoded: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(file.config))
    decoded[k] = v.startsWith("{") || v.startsWith("[") ? JSON.parse(v) : v;
  change(decoded);
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(decoded)) {
    if (v === undefined) continue;
    config[k] = typeof v === "string" ? v : JSON.stringify(v);
  }
  return { config, secretKeys: file.secretKeys };
}

/**
 * Runs index.ts, the real program, under mocks; `deployed`: the outputs of the stack's last update;
 * `references`: other stacks' outputs by name (the server stack of berth:attach).
 */
export function runIndex(
  stack: string,
  file: { config: Record<string, string>; secretKeys: string[] },
  deployed?: Record<string, unknown>,
  references?: Record<string, Record<string, unknown>>,
) {
  return renderIndex(ROOT, stack, file, { deployed, references });
}
