// Starts a fleet service: store, engine, worker and HTTP API, as `berth fleet serve` and the
// tests do. Everything it needs comes from its options; nothing is read from a global.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { Engine } from "./engine";
import { buildServer } from "./server";
import { Fleet, FleetOptions } from "./service";
import { openStore } from "./store";

export const BERTH_ROOT = path.resolve(__dirname, "..");

export interface ServeOptions {
  dataDir: string;
  databaseUrl?: string;
  host?: string;
  port?: number;
  /** berth's project directory, the Automation API's workDir. */
  projectDir?: string;
  pulumiRoot?: string;
  /** Pulumi state of the fleet's stacks; default file://<dataDir>/state. */
  backendUrl?: string;
  /** Extra environment for the Pulumi CLI (cloud tokens, test switches). */
  env?: Record<string, string>;
  concurrency?: number;
  gates?: Record<string, string>;
  healthUrl?: string;
  healthTimeoutMs?: number;
  heartbeatMs?: number;
  staleAfterMs?: number;
  work?: boolean;
  log?: (line: string) => void;
}

export interface RunningFleet {
  url: string;
  fleet: Fleet;
  /** The first admin token, when this start created it. */
  adminToken?: string;
  close(): Promise<void>;
}

/** The passphrase that encrypts the fleet stacks' secrets: given, or made once for this data directory. */
function passphraseEnv(dataDir: string, env: Record<string, string | undefined>): Record<string, string> {
  if (env.PULUMI_CONFIG_PASSPHRASE !== undefined) return { PULUMI_CONFIG_PASSPHRASE: env.PULUMI_CONFIG_PASSPHRASE };
  if (env.PULUMI_CONFIG_PASSPHRASE_FILE) return { PULUMI_CONFIG_PASSPHRASE_FILE: env.PULUMI_CONFIG_PASSPHRASE_FILE };
  const file = path.join(dataDir, "secrets-passphrase");
  if (!fs.existsSync(file))
    fs.writeFileSync(file, crypto.randomBytes(32).toString("base64url") + "\n", { mode: 0o600 });
  return { PULUMI_CONFIG_PASSPHRASE_FILE: file };
}

export async function startFleet(opts: ServeOptions): Promise<RunningFleet> {
  const dataDir = path.resolve(opts.dataDir);
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const store = await openStore({ databaseUrl: opts.databaseUrl, dataDir });
  const backendUrl = opts.backendUrl ?? `file://${path.join(dataDir, "state")}`;
  if (backendUrl.startsWith("file://")) fs.mkdirSync(backendUrl.slice("file://".length), { recursive: true });
  const base: Record<string, string | undefined> = { ...process.env, ...opts.env };
  const env: Record<string, string> = {
    ...(opts.env ?? {}),
    PULUMI_BACKEND_URL: backendUrl,
    PULUMI_SKIP_UPDATE_CHECK: "true",
    ...passphraseEnv(dataDir, base),
  };
  const engine = new Engine({ workDir: opts.projectDir ?? BERTH_ROOT, pulumiRoot: opts.pulumiRoot, env });
  const options: FleetOptions = { ...opts, store, engine };
  const fleet = new Fleet(options);
  let server: Awaited<ReturnType<typeof buildServer>> | undefined;
  try {
    await fleet.start();
    const adminToken = await fleet.bootstrapToken();
    server = await buildServer(fleet);
    const address = await server.listen({ host: opts.host ?? "127.0.0.1", port: opts.port ?? 0 });
    const s = server;
    return {
      url: address.replace("[::1]", "127.0.0.1"),
      fleet,
      adminToken,
      async close() {
        await s.close();
        await fleet.stop();
        await store.close();
      },
    };
  } catch (err) {
    await server?.close().catch(() => undefined);
    await fleet.stop().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw err;
  }
}
