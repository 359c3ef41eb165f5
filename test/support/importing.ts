// Helpers shared by the import tests: `berth import` run in-process, the placeholders filled in
// as a user would, and the written stack file rendered through the real program under mocks.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Command } from "commander";
import { registerImport } from "../../cli/import";
import { readStackFile } from "../../config/load";
import { runIndex, testSecret } from "./harness";
import { TEST_PUBLIC_KEY } from "./configs";

/** Runs `berth import ...` in-process, as the command line would. */
export function cli(cwd: string, args: string[], env: Record<string, string> = {}): string {
  let out = "";
  const program = new Command().exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerImport(program, { cwd, env, out: (t) => (out += t) });
  program.parse(["node", "berth", "import", ...args]);
  return out;
}

/**
 * What a user does with the placeholders an import wrote: a tag for the version, an address per
 * host, their public key, their zone.
 */
export function fillIn(text: string): string {
  let host = 0;
  return text
    .replace(/ssh-ed25519 AAAAFillInYourPublicKey fill-in-ssh-public-key/g, TEST_PUBLIC_KEY)
    .replace(/fill-in-dns-zone\.invalid/g, "example.com")
    .replace(/address: fill-in-[a-z0-9-]+\.invalid/g, () => `address: 203.0.113.${++host}`)
    .replace(/fill-in-[a-z0-9-]+\.invalid/g, (m) => `${m.slice("fill-in-".length, -".invalid".length)}.example.com`)
    .replace(/arch: fill-in-[a-z0-9-]+/g, "arch: amd64")
    .replace(/fill-in-[a-z0-9-]+/g, "filled");
}

/**
 * Renders the written stack file with the real program, each named secret set to a stand-in. A
 * file with placeholders is refused first, naming each; then rendered as the user fills it in.
 */
export async function render(dir: string, stack: string) {
  const written = path.join(dir, `Pulumi.${stack}.yaml`);
  const text = fs.readFileSync(written, "utf8");
  let target = written;
  if (/^[^#]*fill-in-/m.test(text)) {
    const refused = await renderFile(written, stack).then(
      () => assert.fail("a stack with import placeholders rendered"),
      (err: Error) => err.message,
    );
    assert.match(refused, /still holds the placeholder fill-in-/);
    target = path.join(dir, `Pulumi.${stack}-filled.yaml`);
    fs.writeFileSync(target, fillIn(text));
  }
  return renderFile(target, stack);
}

export async function renderFile(stackFile: string, stack: string) {
  const dir = path.dirname(stackFile);
  const file = readStackFile(stackFile, testSecret);
  const names = [...fs.readFileSync(stackFile, "utf8").matchAll(/berth:secrets\.(\w+)/g)];
  file.config["berth:secrets"] = JSON.stringify(
    Object.fromEntries(names.map((m) => [m[1], testSecret(`berth:secrets.${m[1]}`)])),
  );
  file.secretKeys.push("berth:secrets");
  const cwd = process.cwd();
  process.chdir(dir); // accessory files are read relative to the project, as `pulumi up` does
  try {
    return await runIndex(stack, file);
  } finally {
    process.chdir(cwd);
  }
}
