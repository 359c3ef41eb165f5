// `berth preview` and `berth up`: `pulumi preview` and `pulumi up` for a stack, after the doctor
// has found everything they need. Arguments after `--` go to pulumi as they are.
import { Command } from "commander";
import { requireHealthy } from "./doctor";
import { CliError, execute, Io } from "./process";
import { pulumiBinary } from "./pulumi";
import { upWithRollback } from "./rollout";

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
      .argument("[pulumiArgs...]", "arguments passed on to pulumi");
    if (verb === "up")
      program.commands
        .at(-1)!
        .option(
          "--verify",
          "when the verification after the switch (berth:verify) fails, roll back to the last good update (as berth:verify.rollback: true does)",
        )
        .option("--force", "deploy outside berth:deployWindows (BERTH_FORCE_DEPLOY=1 for this run)");
    program.commands
      .at(-1)!
      .action(async (pulumiArgs: string[], opts: { stack?: string; verify?: boolean; force?: boolean }) => {
        const stack = opts.stack ?? io.env.BERTH_STACK;
        if (!stack) throw new CliError(`${verb} needs a stack: pass --stack NAME.`);
        await requireHealthy(io, stack);
        if (verb === "up") {
          const run = opts.force ? { ...io, env: { ...io.env, BERTH_FORCE_DEPLOY: "1" } } : io;
          return upWithRollback(run, stack, pulumiArgs, !!opts.verify);
        }
        const { code } = await execute(io, pulumiBinary(io), [verb, "--stack", stack, ...pulumiArgs], {
          terminal: !!io.terminal,
        });
        if (code !== 0) throw new CliError(`pulumi ${verb} failed (exit ${code}).`, code);
      });
  }
}
