// `berth plan`: the stack rendered offline under Pulumi's mock runtime (no credentials, no
// Pulumi CLI), as a tree or JSON, or compared with the render at another git revision.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Command } from "commander";
import * as pulumi from "@pulumi/pulumi";
import { offlineSharedServer } from "../config/attach";
import { ConfigError, fromEngineConfig, parseConfig, StackFile } from "../config/load";
import { VERSION_KEY } from "../config/names";
import { loadStackFile, Recorded, runIndex } from "../plan/render";
import { diffText, MASK, PLAN_NOTE, planDiff, planResources, planText } from "../plan/show";
import { CliError, Io, step } from "./process";

/**
 * Encrypted config values cannot be read offline; each renders as a marked secret. The program
 * checks the real values when it runs (a fingerprint key's length, for one).
 */
export const secretStandIn = (p: string) => `${MASK} ${p}`;

/**
 * Secrets are usually set with `pulumi config set --secret` on the deploying machine only, so a
 * checkout may lack some the config names. Those get stand-ins, listed in the output.
 */
export function withMissingSecrets(file: StackFile, stack: string): { file: StackFile; standIns: string[] } {
  let problems: string[] = [];
  try {
    parseConfig(fromEngineConfig(file.config), stack);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems = err.problems;
  }
  const standIns = [
    ...new Set(problems.flatMap((p) => [...(/secret "([^"]+)" is not set/.exec(p)?.slice(1) ?? [])])),
  ].sort();
  if (!standIns.length) return { file, standIns };
  const current = file.config["berth:secrets"] ? JSON.parse(file.config["berth:secrets"]) : {};
  for (const name of standIns) current[name] = secretStandIn(`berth:secrets.${name}`);
  return {
    file: {
      config: { ...file.config, "berth:secrets": JSON.stringify(current) },
      secretKeys: [...new Set([...file.secretKeys, "berth:secrets"])],
    },
    standIns,
  };
}

/**
 * A stack file without berth:version keeps the version the stack deployed last, which only the
 * stack's state knows: offline, the program reads this stand-in instead.
 */
export const DEPLOYED_STAND_IN = "deployed";

export async function render(
  root: string,
  stack: string,
): Promise<{ resources: Recorded[]; standIns: string[]; versionStandIn: boolean; serverStandIn?: string }> {
  if (!fs.existsSync(path.join(root, `Pulumi.${stack}.yaml`)))
    throw new CliError(`no Pulumi.${stack}.yaml in ${root}: pass the name of an existing stack with --stack.`);
  try {
    const { file, standIns } = withMissingSecrets(loadStackFile(root, stack, secretStandIn), stack);
    const versionStandIn = file.config[VERSION_KEY] === undefined;
    const deployed = { version: DEPLOYED_STAND_IN };
    // An app stack's server stack (berth:attach) is not read offline: its hosts get stand-ins.
    const shared = offlineSharedServer(fromEngineConfig(file.config));
    const references = shared ? { [shared.stack]: { shared: { ssh: shared.ssh, hosts: shared.hosts } } } : undefined;
    return {
      resources: (await runIndex(root, stack, file, { deployed, references, unknowns: true })).resources,
      standIns,
      versionStandIn,
      serverStandIn: shared
        ? `The hosts of server stack ${shared.stack} (${Object.keys(shared.hosts).join(", ")}) are read from its outputs by a real run; rendered here with stand-in addresses.\n`
        : undefined,
    };
  } catch (err) {
    if (err instanceof ConfigError || pulumi.RunError.isInstance(err))
      throw new CliError(`stack ${stack}: ${(err as Error).message}`);
    throw err;
  }
}

const standInNote = (names: string[], version: boolean) =>
  (names.length
    ? `Secrets not in the stack file, rendered with stand-ins: ${names.join(", ")}. ` +
      "App container names end in a keyed fingerprint of what they run, secrets included: with stand-ins it differs from the deployed one.\n"
    : "") +
  (version
    ? `berth:version is not in the stack file: rendered as "${DEPLOYED_STAND_IN}"; a real run keeps the version the stack deployed last.\n`
    : "");

/**
 * The project as it was at `ref`, unpacked into a temporary directory that shares this
 * checkout's node_modules (installing again would take minutes). Removed by the caller.
 */
export function checkout(root: string, ref: string): string {
  const git = (args: string[], input?: Buffer) =>
    execFileSync("git", args, { cwd: root, input, maxBuffer: 1 << 30, stdio: ["pipe", "pipe", "pipe"] });
  let prefix: string;
  try {
    prefix = git(["rev-parse", "--show-prefix"]).toString().trim();
    git(["rev-parse", "--verify", "--quiet", `${ref}^{commit}`]);
  } catch {
    throw new CliError(
      `"${ref}" is not a commit of the git repository at ${root}; pass a branch, tag or commit to --diff.`,
    );
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-plan-"));
  const archive = git(["archive", "--format=tar", prefix ? `${ref}:${prefix}` : ref]);
  execFileSync("tar", ["-x", "-C", dir], { input: archive, maxBuffer: 1 << 30 });
  fs.symlinkSync(path.join(root, "node_modules"), path.join(dir, "node_modules"), "dir");
  return dir;
}

export function registerPlan(program: Command, io: Io): void {
  program
    .command("plan")
    .description(
      "Render everything the stack declares, offline (no credentials, no Pulumi CLI). The real change set comes from `pulumi preview`.",
    )
    .option("-s, --stack <name>", "stack whose Pulumi.<stack>.yaml to render (default: BERTH_STACK)")
    .option("--json", "print JSON")
    .option("--diff <ref>", "compare with the render at this git revision (branch, tag, commit)")
    .option("--full", "print every script, document and label list whole instead of its size and hash")
    .action(async (opts: { stack?: string; json?: boolean; diff?: string; full?: boolean }) => {
      const stack = opts.stack ?? io.env.BERTH_STACK;
      if (!stack) throw new CliError("plan needs a stack: pass --stack NAME (plan reads Pulumi.NAME.yaml offline).");
      const root = io.cwd;
      if (!opts.diff) {
        const {
          resources: recorded,
          standIns,
          versionStandIn,
          serverStandIn,
        } = await step(io, `rendering stack ${stack} offline`, () => render(root, stack));
        const resources = planResources(recorded);
        if (!opts.json) io.err(standInNote(standIns, versionStandIn) + (serverStandIn ?? ""));
        io.out(
          opts.json
            ? JSON.stringify({ stack, note: PLAN_NOTE, standIns, versionStandIn, resources }, null, 2) + "\n"
            : planText(stack, resources, opts.full),
        );
        return;
      }
      const dir = checkout(root, opts.diff);
      let before: Recorded[];
      try {
        before = (await render(dir, stack)).resources;
      } catch (err) {
        if (err instanceof CliError) throw new CliError(`rendering ${opts.diff}: ${err.message}`);
        throw err;
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      const after = await render(root, stack);
      if (!opts.json) io.err(standInNote(after.standIns, after.versionStandIn) + (after.serverStandIn ?? ""));
      const d = planDiff(before, after.resources);
      io.out(
        opts.json
          ? JSON.stringify(
              {
                stack,
                ref: opts.diff,
                note: PLAN_NOTE,
                standIns: after.standIns,
                versionStandIn: after.versionStandIn,
                ...d,
              },
              null,
              2,
            ) + "\n"
          : diffText(stack, opts.diff, d),
      );
    });
}
