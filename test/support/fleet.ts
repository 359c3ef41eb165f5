// What the fleet tests share: a service on a temp directory with the stand-in pulumi, a loopback
// health endpoint, an HTTP client with a token, and waiting for a deployment to settle.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { BERTH_ROOT, RunningFleet, ServeOptions, startFleet } from "../../fleet/run";
import { hostKeyLine } from "../../fleet/testing/keys";

export { hostKeyLine };

export const STAND_IN = path.join(BERTH_ROOT, "fleet", "testing");
export const PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFleetTestKeyFleetTestKeyFleetTestKey00 ops@example.com";

/**
 * A berth project directory for the Automation API: berth's Pulumi.yaml and the entry it names
 * (start/, linked to this checkout's), so the stack settings files the fleet writes stay in a temp
 * directory while the stand-in runs berth's program from there.
 */
export function tempProject(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-fleet-"));
  fs.mkdirSync(path.join(dir, "project"));
  fs.copyFileSync(path.join(BERTH_ROOT, "Pulumi.yaml"), path.join(dir, "project", "Pulumi.yaml"));
  fs.symlinkSync(path.join(BERTH_ROOT, "start"), path.join(dir, "project", "start"));
  return dir;
}

/**
 * A loopback stand-in for the apps' public health path: GET /<domain>/<version>/<path> answers
 * 200, or 503 when the version contains "sick".
 */
export async function healthServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    res.statusCode = (req.url ?? "").includes("sick") ? 503 : 200;
    res.end(res.statusCode === 200 ? "ok" : "unhealthy");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/{domain}/{version}{path}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export const PASSPHRASE = "fleet-test-passphrase";

/** Runs the stand-in `pulumi` on the test's project and state, as an operator would run the CLI. */
export async function pulumiCli(dir: string, stack: string, ...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(path.join(STAND_IN, "bin", "pulumi"), [...args, "--stack", stack], {
    cwd: path.join(dir, "project"),
    env: {
      ...process.env,
      PULUMI_BACKEND_URL: `file://${path.join(dir, "state")}`,
      PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
    },
  });
  return stdout;
}

/** A stack's secret config values, as `pulumi config --json --show-secrets` prints them. */
export async function stackSecrets(dir: string, stack: string): Promise<Record<string, string>> {
  const config = JSON.parse(await pulumiCli(dir, stack, "config", "--json", "--show-secrets")) as Record<
    string,
    { value: string; secret: boolean }
  >;
  return JSON.parse(config["berth:secrets"]?.value ?? "{}");
}

/**
 * A fleet service on `dir` with the stand-in engine: fixed renders, short steps and waits, a
 * worker that looks for jobs often. `extra.env` adds to the stand-in's environment.
 */
export async function startTestFleet(
  dir: string,
  health: string,
  extra: Partial<ServeOptions> = {},
): Promise<RunningFleet> {
  const { env, ...rest } = extra;
  return startFleet({
    dataDir: path.join(dir, "data"),
    projectDir: path.join(dir, "project"),
    pulumiRoot: STAND_IN,
    backendUrl: `file://${path.join(dir, "state")}`,
    env: { PULUMI_CONFIG_PASSPHRASE: PASSPHRASE, BERTH_FAKE_STEP_MS: "2", BERTH_FAKE_RENDER: "fixed", ...env },
    healthUrl: health,
    healthTimeoutMs: 800,
    heartbeatMs: 300,
    staleAfterMs: 1500,
    pollIntervalMs: 100,
    concurrency: 4,
    ...rest,
  });
}

export class Client {
  constructor(
    readonly url: string,
    readonly token?: string,
  ) {}
  async call(method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(this.url + route, {
      method,
      headers: {
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }
  get = (route: string) => this.call("GET", route);
  post = (route: string, body: unknown = {}) => this.call("POST", route, body);
}

/**
 * Polls a deployment until it leaves pending/deploying (or `until` says so). The deadline only
 * ends a hung test: deployments run at a lower CPU priority, so on a machine busy with other
 * work a flow that takes seconds alone can take a minute.
 */
export async function settle(
  client: Client,
  id: number,
  until?: (d: any) => boolean,
  timeoutMs = 120_000,
): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await client.get(`/api/deployments/${id}`);
    if (until ? until(body) : !["pending", "deploying"].includes(body.status)) return body;
    if (Date.now() > deadline) throw new Error(`deployment ${id} still ${body.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const server = (name: string, address: string, extra: Record<string, unknown> = {}) => ({
  name,
  kind: "existing",
  address,
  hostKeys: [hostKeyLine(address)],
  sshPublicKey: PUBLIC_KEY,
  ...extra,
});

export const railsDeploy = (
  app: string,
  environment: string,
  version: string,
  extra: Record<string, unknown> = {},
) => ({
  app,
  environment,
  template: "rails",
  servers: ["web-1"],
  variables: { image: "ghcr.io/acme/shop", version, domain: `${app}.example.com`, env: { RAILS_LOG_LEVEL: "info" } },
  secrets: { RAILS_MASTER_KEY: "0123456789abcdef0123456789abcdef" },
  ...extra,
});
