// What the fleet tests share: a service on a temp directory with the stand-in pulumi, a loopback
// health endpoint, an HTTP client with a token, and waiting for a deployment to settle.
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { BERTH_ROOT, RunningFleet, ServeOptions, startFleet } from "../fleet/run";

export const STAND_IN = path.join(BERTH_ROOT, "fleet", "testing");
export const PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFleetTestKeyFleetTestKeyFleetTestKey00 ops@example.com";

/** A berth project directory for the Automation API: Pulumi.yaml; the stand-in renders berth's program. */
export function tempProject(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-fleet-"));
  fs.mkdirSync(path.join(dir, "project"));
  fs.copyFileSync(path.join(BERTH_ROOT, "Pulumi.yaml"), path.join(dir, "project", "Pulumi.yaml"));
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

export async function startTestFleet(
  dir: string,
  health: string,
  extra: Partial<ServeOptions> = {},
): Promise<RunningFleet> {
  return startFleet({
    dataDir: path.join(dir, "data"),
    projectDir: path.join(dir, "project"),
    pulumiRoot: STAND_IN,
    backendUrl: `file://${path.join(dir, "state")}`,
    env: { PULUMI_CONFIG_PASSPHRASE: "fleet-test-passphrase", BERTH_FAKE_STEP_MS: "2", BERTH_FAKE_RENDER: "fixed" },
    healthUrl: health,
    healthTimeoutMs: 1500,
    heartbeatMs: 300,
    staleAfterMs: 1500,
    concurrency: 4,
    ...extra,
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

/** Polls a deployment until it leaves pending/deploying (or `until` says so). */
export async function settle(
  client: Client,
  id: number,
  until?: (d: any) => boolean,
  timeoutMs = 30_000,
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
