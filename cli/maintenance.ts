// `berth maintenance on|off`: a config change deployed like any other, so the stack's state
// and history say whether the app is in maintenance.
import { Command } from "commander";
import { MAINTENANCE_ENABLED_KEY, MAINTENANCE_MESSAGE_KEY } from "../config/names";
import { changeAndDeploy, resolveStack } from "./pulumi";
import { CliError, Io } from "./process";

export function maintenanceChanges(mode: string, message?: string): { key: string; value: string }[] {
  if (mode !== "on" && mode !== "off") throw new CliError(`maintenance takes "on" or "off", not "${mode}".`);
  return [
    { key: MAINTENANCE_ENABLED_KEY, value: mode === "on" ? "true" : "false" },
    ...(message !== undefined ? [{ key: MAINTENANCE_MESSAGE_KEY, value: message }] : []),
  ];
}

export function registerMaintenance(program: Command, io: Io): void {
  program
    .command("maintenance")
    .description(
      "Serve kamal-proxy's maintenance page (on) or the app again (off): sets berth:maintenance.enabled, previews, confirms, deploys.",
    )
    .argument("<on|off>", "on or off")
    .option("-s, --stack <name>", "stack (default: BERTH_STACK or the selected stack)")
    .option("-m, --message <text>", "message on the maintenance page")
    .option("-y, --yes", "deploy without asking after the preview")
    .action(async (mode: string, opts: { stack?: string; message?: string; yes?: boolean }) => {
      const changes = maintenanceChanges(mode, opts.message);
      const stack = await resolveStack(io, opts.stack);
      await changeAndDeploy(io, stack, changes, { yes: !!opts.yes, message: `berth maintenance ${mode}` });
    });
}
