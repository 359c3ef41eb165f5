// `berth preview` and `berth up`: `pulumi preview` and `pulumi up` for a stack, after the doctor
// has found everything they need. Arguments after `--` go to pulumi as they are.
import { Command } from "commander";
import { requireHealthy } from "./doctor";
import { CliError, execute, Io } from "./process";
import { pulumiBinary } from "./pulumi";

export function registerDeploy(program: Command, io: Io): void {
  for (const verb of ["preview", "up"] as const) {
    program
      .command(verb)
      .description(
        verb === "up"
          ? "Deploy the stack: berth doctor, then pulumi up (extra arguments after -- go to pulumi)."
          : "Show the deploy plan: berth doctor, then pulumi preview (extra arguments after -- go to pulumi).",
      )
      .option("-s, --stack <name>", "stack (default: BERTH_STACK)")
      .argument("[pulumiArgs...]", "arguments passed on to pulumi")
      .action(async (pulumiArgs: string[], opts: { stack?: string }) => {
        const stack = opts.stack ?? io.env.BERTH_STACK;
        if (!stack) throw new CliError(`${verb} needs a stack: pass --stack NAME.`);
        await requireHealthy(io, stack);
        const { code } = await execute(io, pulumiBinary(io), [verb, "--stack", stack, ...pulumiArgs], {
          terminal: !!io.terminal,
        });
        if (code !== 0) throw new CliError(`pulumi ${verb} failed (exit ${code}).`, code);
      });
  }
}
