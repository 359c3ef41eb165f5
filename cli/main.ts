// The `berth` command line: one program, each command registered from its own module.
import { Command, CommanderError } from "commander";
import { registerFleet } from "./fleet";
import { commandIndex, expandAlias, readAliases, stackArgument } from "./aliases";
import * as fs from "node:fs";
import * as path from "node:path";
import { registerDeploy } from "./deploy";
import { registerDoctor } from "./doctor";
import { registerHistory } from "./history";
import { registerInit } from "./init";
import { registerImport } from "./import";
import { registerMaintenance } from "./maintenance";
import { registerPlan } from "./plan";
import { CliError, Io, processIo } from "./process";
import { resolveStack } from "./pulumi";
import { registerRemote } from "./remote";
import { registerRollout } from "./rollout";

/** `berth 0.1.0 (@pulumi/pulumi 3.248.0)`: berth's version and the Pulumi SDK the program uses. */
function versionText(): string {
  const root = path.resolve(__dirname, "..");
  const own = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { version: string };
  const sdk = JSON.parse(
    fs.readFileSync(path.join(root, "node_modules", "@pulumi", "pulumi", "package.json"), "utf8"),
  ) as { version: string };
  return `berth ${own.version} (@pulumi/pulumi ${sdk.version})`;
}

/** Builds the program; tests run it in-process with their own Io. */
export function buildProgram(io: Io): Command {
  const program = new Command("berth")
    .description("Operate berth stacks: history and rollback, logs and commands on the hosts, offline plans.")
    .showHelpAfterError("(run with --help for usage)")
    .version(versionText(), "-V, --version", "print berth's version and the Pulumi SDK it runs on")
    // `berth import --version TAG` is import's own option, not the program's.
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });
  registerHistory(program, io);
  registerMaintenance(program, io);
  registerRemote(program, io);
  registerPlan(program, io);
  registerImport(program, { out: io.out, env: io.env, cwd: io.cwd });
  registerInit(program, io);
  registerDoctor(program, io);
  registerDeploy(program, io);
  registerRollout(program, io);
  registerFleet(program, io);
  program.addHelpText(
    "after",
    "\nYour own commands come from berth:aliases in Pulumi.<stack>.yaml (berth NAME --stack S).\n",
  );
  // Subcommands print and exit through the same streams as the program.
  const inherit = (cmd: Command) => {
    for (const sub of cmd.commands) {
      sub.exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
      inherit(sub);
    }
  };
  inherit(program);
  return program;
}

/** Runs `berth ARGS...`; resolves with the exit code. */
export async function runCli(argv: string[], io: Io = processIo()): Promise<number> {
  try {
    const program = buildProgram(io);
    const builtIn = program.commands.map((c) => c.name());
    const first = argv[commandIndex(argv)];
    let args = argv;
    if (first !== undefined && !builtIn.includes(first) && first !== "help") {
      // Not a built-in command: perhaps one of the stack's aliases.
      const stack = await resolveStack(io, stackArgument(argv)).catch(() => undefined);
      if (stack) args = expandAlias(argv, readAliases(io.cwd, stack), builtIn);
    }
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof CliError) {
      io.err(`berth: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}
