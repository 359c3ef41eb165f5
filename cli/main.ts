// The `berth` command line: one program, each command registered from its own module.
import { Command, CommanderError } from "commander";
import { registerFleet } from "../fleet/cli";
import { commandIndex, expandAlias, readAliases, stackArgument } from "./aliases";
import { registerHistory } from "./history";
import { registerImport } from "./import";
import { registerMaintenance } from "./maintenance";
import { registerPlan } from "./plan";
import { CliError, Io, processIo } from "./process";
import { resolveStack } from "./pulumi";
import { registerRemote } from "./remote";

/** Builds the program; tests run it in-process with their own Io. */
export function buildProgram(io: Io): Command {
  const program = new Command("berth")
    .description("Operate berth stacks: history and rollback, logs and commands on the hosts, offline plans.")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });
  registerHistory(program, io);
  registerMaintenance(program, io);
  registerRemote(program, io);
  registerPlan(program, io);
  registerImport(program, { out: io.out, env: io.env, cwd: io.cwd });
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
