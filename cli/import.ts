// `berth import`: a Kamal config/deploy.yml becomes Pulumi.<stack>.yaml.
import { CliError } from "./process";
import * as fs from "node:fs";
import * as path from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { ConfigError } from "../config/load";
import { LOCATIONS } from "../config/schema";
import { KamalConfigError, loadKamal } from "../import/kamal";
import { mapKamal } from "../import/map";
import { readExisting, secretCommand, stackFileText, validateImport, wouldOverwrite } from "../import/write";
import { serverTypeProblem } from "../config/serverTypes";

export interface ImportIO {
  /** Where the report goes (default: stdout). */
  out?: (text: string) => void;
  /** Environment ERB tags read (default: process.env). */
  env?: Record<string, string | undefined>;
  /** Directory the stack file is written to (default: the current directory). */
  cwd?: string;
}

interface ImportFlags {
  destination?: string;
  stack: string;
  provision?: { serverType: string; location: string };
  version?: string;
  sshPublicKey?: string;
  force?: boolean;
}

function provision(value: string): { serverType: string; location: string } {
  const m = /^([a-z0-9-]+)@([a-z0-9]+)$/.exec(value);
  if (!m || !(m[2] in LOCATIONS)) {
    throw new InvalidArgumentError(
      `expected TYPE@LOCATION such as cx23@fsn1 (locations: ${Object.keys(LOCATIONS).join(", ")})`,
    );
  }
  const problem = serverTypeProblem(m[1]);
  if (problem) throw new InvalidArgumentError(problem);
  return { serverType: m[1], location: m[2] };
}

export function registerImport(program: Command, io: ImportIO = {}): Command {
  return program
    .command("import")
    .description("Turn a Kamal configuration (config/deploy.yml) into a berth stack file, Pulumi.<stack>.yaml")
    .argument("[path]", "Kamal config file, or the project directory holding config/deploy.yml", "config/deploy.yml")
    .requiredOption("-s, --stack <name>", "stack to write (Pulumi.<name>.yaml)")
    .option("-d, --destination <name>", "Kamal destination: merges config/deploy.<name>.yml over the base file")
    .option(
      "--provision <type@location>",
      "create Hetzner Cloud servers (e.g. cx23@fsn1) instead of using the hosts' addresses",
      provision,
    )
    .option("--version <tag>", "image tag to deploy (berth:version)")
    .option("--ssh-public-key <file>", "OpenSSH public key file for berth:ssh.publicKey")
    .option("-f, --force", "overwrite an existing, different stack file")
    .action((target: string, flags: ImportFlags) => runImport(target, flags, io));
}

function runImport(target: string, flags: ImportFlags, io: ImportIO): void {
  const out = io.out ?? ((text: string) => process.stdout.write(text));
  const cwd = io.cwd ?? process.cwd();
  if (!/^[A-Za-z0-9_.-]+$/.test(flags.stack)) throw new CliError(`invalid stack name "${flags.stack}"`);
  const resolved = path.resolve(cwd, target);
  const file =
    fs.existsSync(resolved) && fs.statSync(resolved).isDirectory()
      ? path.join(resolved, "config", "deploy.yml")
      : resolved;
  try {
    const source = loadKamal({
      file,
      destination: flags.destination,
      env: io.env ?? process.env,
      readFile: (f) => (fs.existsSync(f) ? fs.readFileSync(f, "utf8") : undefined),
    });
    const keyFile = flags.sshPublicKey ? path.resolve(cwd, flags.sshPublicKey) : undefined;
    if (keyFile && !fs.existsSync(keyFile))
      throw new CliError(
        `--ssh-public-key: ${keyFile} not found; pass your public key file, e.g. ~/.ssh/id_ed25519.pub`,
      );
    const publicKey = keyFile ? fs.readFileSync(keyFile, "utf8").trim() : undefined;
    const result = mapKamal(source.config, {
      provision: flags.provision,
      version: flags.version,
      publicKey,
      projectPath: path.relative(cwd, source.projectDir).split(path.sep).join("/") || ".",
      placeholders: source.placeholders,
    });
    validateImport(result, flags.stack, cwd);
    const stackFile = path.join(cwd, `Pulumi.${flags.stack}.yaml`);
    const existing = fs.existsSync(stackFile) ? fs.readFileSync(stackFile, "utf8") : undefined;
    const before = existing === undefined ? undefined : readExisting(existing);
    if (before && wouldOverwrite(before, result) && !flags.force) {
      throw new CliError(
        `${path.basename(stackFile)} already has different berth settings; pass --force to replace them (secrets, hcloud:token and the encryption salt are kept)`,
      );
    }
    const text = stackFileText(
      result,
      source.files.map((f) => path.relative(cwd, f) || f),
      before,
    );
    if (existing !== text) fs.writeFileSync(stackFile, text);
    out(`${existing === text ? "Unchanged" : "Wrote"} ${path.basename(stackFile)}\n`);
    if (result.placeholders.length > 0) {
      out(`\nFill in (search the file for "fill-in-"):\n`);
      result.placeholders.forEach((p) => out(`  ${p.value}: ${p.what}\n`));
    }
    if (result.secrets.length > 0) {
      out(`\nSet the secrets the stack needs (leave out <value> to be prompted):\n`);
      result.secrets.forEach((s) => out(`  ${secretCommand(s.name)}    # ${s.usedBy}\n`));
    }
    if (result.notes.length > 0) {
      out(`\nChanged on the way:\n`);
      result.notes.forEach((n) => out(`  ${n}\n`));
    }
    if (result.unmapped.length > 0) {
      out(`\nNot imported (no berth equivalent yet):\n`);
      result.unmapped.forEach((u) => out(`  ${u.key}: ${u.reason}\n`));
    }
    out(
      `\nNext: pulumi stack init ${flags.stack} (if new)${result.secrets.length ? ", set the secrets above" : ""}, then pulumi preview\n`,
    );
  } catch (e) {
    if (e instanceof KamalConfigError || e instanceof ConfigError) {
      const error = new CliError(
        e instanceof KamalConfigError ? `invalid Kamal configuration:\n  ${e.problems.join("\n  ")}` : e.message,
      );
      error.cause = e;
      throw error;
    }
    throw e;
  }
}
