// `berth history` and `berth rollback`: the deploy log is the stack's update history, and each
// update carries the config it ran with, berth:version included.
import { Command } from "commander";
import { changeAndDeploy, resolveStack, stackHistoryJson } from "./pulumi";
import { CliError, Io } from "./process";

import { VERSION_KEY } from "../config/names";

export { VERSION_KEY };

export interface Update {
  update: number;
  kind: string;
  time: string;
  message: string;
  result: string;
  version?: string;
}

/** Reads `pulumi stack history --json`, newest first. */
export function parseHistory(json: unknown): Update[] {
  if (!Array.isArray(json)) throw new CliError("stack history: expected a JSON list of updates from pulumi.");
  return json
    .map((u: Record<string, any>) => ({
      update: Number(u.version),
      kind: String(u.kind ?? ""),
      time: String(u.startTime ?? ""),
      message: String(u.message ?? ""),
      result: String(u.result ?? ""),
      version: typeof u.config?.[VERSION_KEY]?.value === "string" ? u.config[VERSION_KEY].value : undefined,
    }))
    .sort((a, b) => b.update - a.update);
}

/** A deploy that happened: an `up` that succeeded. Previews, refreshes and failures never count. */
export const deployed = (u: Update) => u.kind === "update" && u.result === "succeeded" && u.version !== undefined;

/**
 * The update to roll back to: the one named by `to` (a version, or an update number), or the
 * newest successful deploy of a version other than the one deployed now.
 */
export function rollbackTarget(history: Update[], to?: string): Update {
  const good = history.filter(deployed);
  const current = good[0];
  const listing = () =>
    good.length
      ? `successful deploys: ${good.map((u) => `#${u.update} ${u.version}`).join(", ")}`
      : "no successful deploy yet";
  if (to !== undefined) {
    const byVersion = good.find((u) => u.version === to);
    if (byVersion) return byVersion;
    const byUpdate = /^\d+$/.test(to) ? history.find((u) => u.update === Number(to)) : undefined;
    if (byUpdate && deployed(byUpdate)) return byUpdate;
    if (byUpdate)
      throw new CliError(
        `update #${to} is not a successful deploy (${byUpdate.kind}, ${byUpdate.result || "no result"}); pick one of the ${listing()}.`,
      );
    throw new CliError(`no successful deploy of version or update "${to}"; ${listing()}.`);
  }
  if (!current) throw new CliError(`nothing to roll back to: ${listing()}.`);
  const previous = good.find((u) => u.version !== current.version);
  if (!previous)
    throw new CliError(
      `nothing to roll back to: every successful deploy used version ${current.version}. Name one with --to.`,
    );
  return previous;
}

export function historyTable(updates: Update[]): string {
  const rows = [["UPDATE", "TIME", "RESULT", "VERSION", "MESSAGE"]];
  for (const u of updates)
    rows.push([`#${u.update}`, u.time, u.result || "-", u.version ?? "-", u.message.split("\n")[0]]);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
          .join("  ")
          .trimEnd(),
      )
      .join("\n") + "\n"
  );
}

export function registerHistory(program: Command, io: Io): void {
  program
    .command("history")
    .description("Deployed versions of a stack, newest first, from `pulumi stack history`.")
    .option("-s, --stack <name>", "stack (default: BERTH_STACK or the selected stack)")
    .option("--json", "print JSON")
    .action(async (opts: { stack?: string; json?: boolean }) => {
      const stack = await resolveStack(io, opts.stack);
      const updates = parseHistory(await stackHistoryJson(io, stack)).filter((u) => u.kind === "update");
      if (opts.json) io.out(JSON.stringify(updates, null, 2) + "\n");
      else if (!updates.length) io.out(`stack ${stack} has no deploys yet: deploy with \`pulumi up -s ${stack}\`.\n`);
      else io.out(historyTable(updates));
    });

  program
    .command("rollback")
    .description(
      "Set berth:version back to the previous successful deploy (or --to), preview, confirm, then `pulumi up`.",
    )
    .option("-s, --stack <name>", "stack (default: BERTH_STACK or the selected stack)")
    .option("--to <version|update>", "a deployed version, or an update number from `berth history`")
    .option("-y, --yes", "deploy without asking after the preview")
    .action(async (opts: { stack?: string; to?: string; yes?: boolean }) => {
      const stack = await resolveStack(io, opts.stack);
      const target = rollbackTarget(parseHistory(await stackHistoryJson(io, stack)), opts.to);
      io.err(`Rolling stack ${stack} back to version ${target.version} (deployed by update #${target.update}).\n`);
      await changeAndDeploy(io, stack, [{ key: VERSION_KEY, value: target.version!, stateOnly: true }], {
        yes: !!opts.yes,
        message: `berth rollback to ${target.version} (update #${target.update})`,
      });
    });
}
