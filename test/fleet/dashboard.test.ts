// The dashboard in a real headless Chromium (Debian's), driven by playwright-core: register a
// server, deploy the Rails template, watch it live, deploy again, roll back, cancel, and see a bad
// request's problems. Screenshots are checked to be real pictures of the expected size, and the
// DOM is checked for what they show.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { after, before, describe, it } from "node:test";
import { BrowserContext, chromium, Page } from "playwright-core";
import { RunningFleet } from "../../fleet/run";
import { healthServer, hostKeyLine, PUBLIC_KEY, startTestFleet, tempProject } from "../support/fleet";

const CHROMIUM = "/usr/bin/chromium";
const VIEWPORT = { width: 1280, height: 900 };

/** Width, height and how many distinct byte values the decoded pixels hold (1 for a blank image). */
function pngFacts(file: string): { width: number; height: number; distinct: number } {
  const buf = fs.readFileSync(file);
  assert.equal(buf.subarray(0, 8).toString("hex"), "89504e470d0a1a0a", `${file} is not a PNG`);
  const idat: Buffer[] = [];
  let width = 0;
  let height = 0;
  for (let at = 8; at < buf.length;) {
    const len = buf.readUInt32BE(at);
    const type = buf.subarray(at + 4, at + 8).toString("latin1");
    const data = buf.subarray(at + 8, at + 8 + len);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
    }
    if (type === "IDAT") idat.push(data);
    at += 12 + len;
  }
  const pixels = zlib.inflateSync(Buffer.concat(idat));
  const seen = new Set<number>();
  for (let i = 0; i < pixels.length && seen.size < 256; i += 7) seen.add(pixels[i]);
  return { width, height, distinct: seen.size };
}

describe("fleet dashboard in Chromium", () => {
  let dir: string;
  let health: Awaited<ReturnType<typeof healthServer>>;
  let fleet: RunningFleet;
  let context: BrowserContext;
  let page: Page;
  const shots = fs.mkdtempSync(path.join(os.tmpdir(), "berth-fleet-shots-"));

  async function shot(name: string) {
    const file = path.join(shots, `${name}.png`);
    await page.screenshot({ path: file });
    const facts = pngFacts(file);
    assert.deepEqual([facts.width, facts.height], [VIEWPORT.width, VIEWPORT.height], `${name}.png size`);
    assert.ok(facts.distinct > 20, `${name}.png looks blank (${facts.distinct} distinct values)`);
  }

  /** Waits until the deployment page shows `expected`, on a summary holding `text` when given. */
  async function deployedStatus(expected: string, text?: string, timeout = 120_000) {
    await page
      .locator("#summary", text ? { hasText: text } : {})
      .locator(`[data-status="${expected}"]`)
      .waitFor({ timeout });
  }

  before(async () => {
    if (!fs.existsSync(CHROMIUM))
      throw new Error(`${CHROMIUM} not found; install it with: apt-get install -y chromium`);
    dir = tempProject();
    health = await healthServer();
    // The browser starts while the service does. shop-staging renders berth's program; the stacks
    // that roll back and cancel step through the stand-in's fixed resources.
    const starting = startTestFleet(dir, health.url, {
      env: { BERTH_FAKE_SLOW_MS: "300", BERTH_FAKE_PROGRAM_STACKS: "shop-staging" },
    });
    context = await chromium.launchPersistentContext(path.join(dir, "chromium-profile"), {
      executablePath: CHROMIUM,
      headless: true,
      viewport: VIEWPORT,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    page = context.pages()[0] ?? (await context.newPage());
    fleet = await starting;
  });
  after(async () => {
    await context?.close();
    await fleet?.close();
    await health?.close();
  });

  const hostKey = hostKeyLine("203.0.113.10");

  it("signs in with the token from the address and registers a server with its host key", async () => {
    await page.goto(`${fleet.url}/#token=${fleet.adminToken}`);
    await page.locator("#no-servers").waitFor();
    assert.equal(await page.locator("#who").textContent(), "admin (admin)");
    await page.fill("#server-name", "web-1");
    await page.fill("#server-address", "203.0.113.10");
    await page.fill("#server-key", PUBLIC_KEY);
    await page.click("#register");
    // Without the machine's host key berth would trust whatever key answers first: refused, with how to get it.
    await page.locator("#problems").waitFor();
    assert.match(
      await page.locator("#problems").innerText(),
      /^hostKeys: required for an existing machine.*ssh-keyscan -p 22 -t ed25519 203\.0\.113\.10.*then give the line it prints in hostKeys$/,
    );
    await page.fill("#server-host-keys", `# from ssh-keyscan\n${hostKey}\n`);
    await page.click("#register");
    await page.locator('#servers tr[data-server="web-1"]').waitFor();
    assert.match(
      await page.locator('#servers tr[data-server="web-1"]').innerText(),
      /web-1\s+existing\s+203\.0\.113\.10/,
    );
    await shot("servers");
  });

  it("shows a bad request's problems with their config paths", async () => {
    await page.goto(`${fleet.url}/#/deploy`);
    await page.fill("#app", "shop");
    await page.fill("#var-image", "Not An Image");
    await page.fill("#var-version", "v1");
    await page.fill("#secret-RAILS_MASTER_KEY", "0123456789abcdef");
    await page.click("#deploy");
    await page.locator("#problems").waitFor();
    assert.match(
      await page.locator("#problems").innerText(),
      /rendered rails config: berth:image: must be an image name/,
    );
    await shot("problems");
  });

  async function deploy(app: string, version: string, secret?: string) {
    await page.goto(`${fleet.url}/#/deploy`);
    await page.locator("#template").selectOption("rails");
    await page.fill("#app", app);
    await page.fill("#environment", "staging");
    await page.fill("#var-image", `ghcr.io/acme/${app}`);
    await page.fill("#var-version", version);
    await page.fill("#var-domain", `${app}.example.com`);
    await page.fill("#var-env", "RAILS_LOG_LEVEL=info");
    if (secret) await page.fill("#secret-RAILS_MASTER_KEY", secret);
    await page.click("#deploy");
    await page.waitForURL(/#\/deployments\/\d+$/);
    return Number(/(\d+)$/.exec(page.url())![1]);
  }

  const masterKey = "0123456789abcdef0123456789abcdef";
  it("deploys the Rails template through berth's program and shows its progress live", async () => {
    await deploy("shop", "v1", masterKey);
    await deployedStatus("deployed");
    const log = await page.locator("#log").innerText();
    assert.match(log, /create docker:index\/container:Container shop-web-web-1-v1-[0-9a-f]{8}\n/);
    assert.match(log, /shop-web-web-1-route: running on the host/);
    assert.match(log, /answered 200/);
    // The hosts' keys the stack now verifies them with, as known_hosts lines.
    await page.locator("#known-hosts summary").click();
    assert.equal(
      (await page.locator("#known-hosts pre").innerText()).trim(),
      `203.0.113.10 ${hostKey.split(" ").slice(1).join(" ")}`,
    );
    assert.match(await page.locator("#progress").innerText(), /^\d+ resource steps done$/);
    assert.match(
      await page.locator("#summary").innerText(),
      /^shop \/ staging version v1 deployed deploy by admin\n+servers web-1 · created .* · took \d+\.\d s$/,
    );
    await shot("deployed");
  });

  it("deploys a second version, then rolls back to the first from its page", async () => {
    const firstId = await deploy("blog", "v1", masterKey);
    await deployedStatus("deployed");
    const second = await deploy("blog", "v2");
    await deployedStatus("deployed");
    await page.goto(`${fleet.url}/#/deployments/${firstId}`);
    await page.locator("#rollback").click();
    await page.waitForURL(new RegExp(`#/deployments/(?!${firstId}$)\\d+$`));
    // The page of the rollback, not the first deployment's still on screen.
    await deployedStatus("deployed", "rollback by admin");
    assert.match(await page.locator("#summary").innerText(), /version v1 deployed\s+rollback by admin/);
    await page.goto(`${fleet.url}/#/history?app=blog`);
    await page.locator(`#history tr[data-id="${second}"] [data-status="rolled_back"]`).waitFor();
    await shot("history");
  });

  it("cancels a running deployment from its page", async () => {
    await deploy("halt", "v1-slow", masterKey);
    await page.locator("#log .step-started").first().waitFor({ timeout: 120_000 });
    await page.locator("#cancel").click();
    await deployedStatus("cancelled");
    assert.match(await page.locator("#error").innerText(), /cancelled by admin/);
    await shot("cancelled");
  });
});
