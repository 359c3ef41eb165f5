// `berth init STACK`: a stack ready for its first `pulumi up`, from a checkout and a stack file.
// It creates the stack on the backend Pulumi.yaml names with passphrase-encrypted secrets, asks
// for each secret the stack names without echoing it, stores each encrypted through pulumi's
// standard input (never a command line), and ends with the doctor's report.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { Command } from "commander";
import { FINGERPRINT_KEY } from "../config/schema";
import { setSecretCommand } from "../config/secrets";
import { diagnose, missingCredentials, pulumiQuiet, report } from "./doctor";
import { CliError, Io, step } from "./process";

const WHAT: Record<string, string> = {
  "hcloud:token": "Hetzner Cloud API token (Read & Write, from the Hetzner Console: Security, API tokens)",
};

async function ask(io: Io, question: string, hidden: boolean): Promise<string | undefined> {
  if (!io.prompt) return undefined;
  return io.prompt(question, hidden);
}

export function registerInit(program: Command, io: Io): void {
  program
    .command("init")
    .description(
      "Create a stack on the local backend with passphrase secrets, ask for each secret it names (hidden), and check the result.",
    )
    .argument("<stack>", "stack name; Pulumi.<stack>.yaml must exist (copy an example or run berth import)")
    .action(async (stack: string) => {
      if (!/^[A-Za-z0-9_.-]+$/.test(stack)) throw new CliError(`invalid stack name "${stack}"`);
      const file = path.join(io.cwd, `Pulumi.${stack}.yaml`);
      if (!fs.existsSync(file))
        throw new CliError(
          `no Pulumi.${stack}.yaml here: copy an example (cp Pulumi.staging.yaml Pulumi.${stack}.yaml) and edit it, or run berth import --stack ${stack}.`,
        );
      const version = await pulumiQuiet(io, ["version"]);
      if (!version || version.code !== 0)
        throw new CliError("the Pulumi CLI is not installed: https://www.pulumi.com/docs/iac/download-install/");

      // The passphrase reaches pulumi through its environment only.
      let passphrase = io.env.PULUMI_CONFIG_PASSPHRASE;
      if (passphrase === undefined && !io.env.PULUMI_CONFIG_PASSPHRASE_FILE) {
        const first = await ask(io, "Passphrase for this stack's secrets (keep it in your password manager): ", true);
        if (!first)
          throw new CliError(
            "a passphrase is needed: export PULUMI_CONFIG_PASSPHRASE='...' or run berth init on a terminal.",
          );
        const again = await ask(io, "The same passphrase again: ", true);
        if (again !== first) throw new CliError("the two passphrases differ; nothing was created.");
        passphrase = first;
      }
      const env: NodeJS.ProcessEnv = passphrase === undefined ? {} : { PULUMI_CONFIG_PASSPHRASE: passphrase };
      const withPassphrase: Io = { ...io, env: { ...io.env, ...env } };

      const list = await pulumiQuiet(withPassphrase, ["stack", "ls", "--json"]);
      const exists =
        list?.code === 0 && (JSON.parse(list.stdout || "[]") as { name: string }[]).some((s) => s.name === stack);
      if (exists) io.err(`berth: stack ${stack} exists already; keeping it\n`);
      else {
        const created = await step(io, `creating stack ${stack} (passphrase secrets)`, () =>
          pulumiQuiet(withPassphrase, ["stack", "init", stack, "--secrets-provider", "passphrase"]),
        );
        if (created?.code !== 0)
          throw new CliError(`pulumi stack init ${stack} failed: ${created?.stderr.trim() ?? "no answer"}`);
      }

      const { missing, problems } = missingCredentials(io.cwd, stack);
      if (problems.length > 0)
        throw new CliError(`Pulumi.${stack}.yaml is not valid yet:\n  - ${problems.join("\n  - ")}`);
      const skipped: string[] = [];
      for (const key of missing) {
        const label = WHAT[key] ?? key.replace(/^berth:secrets\./, "");
        // The fingerprint key is nobody's to know, only to keep: berth draws it.
        const generated = key === `berth:secrets.${FINGERPRINT_KEY}`;
        if (generated) io.out(`${label}: a random key, generated\n`);
        const value = generated
          ? crypto.randomBytes(32).toString("hex")
          : await ask(io, `${label} (hidden; empty to skip): `, true);
        if (!value) {
          skipped.push(key);
          continue;
        }
        const args = key.includes(".")
          ? ["config", "set", "--secret", "--path", key, "--stack", stack]
          : ["config", "set", "--secret", key, "--stack", stack];
        const set = await step(io, `storing ${key} encrypted`, () =>
          pulumiQuiet(withPassphrase, args, { input: value }),
        );
        if (set?.code !== 0) throw new CliError(`storing ${key} failed: ${set?.stderr.trim() ?? "no answer"}`);
      }

      const checks = await step(io, "checking the stack (berth doctor)", () => diagnose(withPassphrase, stack));
      io.out(report(checks));
      if (skipped.length > 0)
        io.out(`\nStill to set: ${skipped.map((k) => setSecretCommand(k, stack)).join("\n  ")}\n`);
      if (passphrase !== undefined && io.env.PULUMI_CONFIG_PASSPHRASE === undefined)
        io.out(
          "\nExport the passphrase you chose before each berth or pulumi command: export PULUMI_CONFIG_PASSPHRASE='...'\n",
        );
      io.out(`\nNext: berth preview --stack ${stack}, then berth up --stack ${stack}\n`);
      const failed = checks.filter((c) => !c.ok && !(c.name === "Passphrase" && passphrase !== undefined));
      if (failed.length > 0)
        throw new CliError(`${failed.length} check${failed.length === 1 ? "" : "s"} failed; see above.`);
    });
}
