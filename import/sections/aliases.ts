// Kamal's aliases section, and the names of berth's own commands, which no alias may take.
import { commandWords } from "../../config/app";
import { ImportContext, lower, singleQuoted } from "../context";

/** berth's own commands; an alias may not take one of these names. */
export const BUILT_IN_COMMANDS = [
  "history",
  "rollback",
  "maintenance",
  "logs",
  "exec",
  "console",
  "shell",
  "dbc",
  "details",
  "accessory",
  "plan",
  "import",
  "init",
  "doctor",
  "up",
  "preview",
  "rollout",
  "fleet",
  "help",
];

const quote = (w: string) => (/^[A-Za-z0-9_./:=@%+-]+$/.test(w) ? w : singleQuoted(w));

/** The berth command line for a kamal one, or why there is none. */
export function aliasCommand(words: string[]): string | { reason: string } {
  if (words[0] === "details") words = ["app", ...words];
  const [group, verb, ...rest] = words;
  const args: string[] = [];
  const positional: string[] = [];
  const flagsWithValue = ["-r", "--roles", "-h", "--hosts", "-n", "--lines", "-g", "--grep", "-d", "--destination"];
  for (let i = 0; i < rest.length; i++) {
    const w = rest[i];
    if (flagsWithValue.includes(w)) {
      const v = rest[++i];
      if (w === "-r" || w === "--roles") args.push("--role", quote(v));
      else if (w === "-h" || w === "--hosts")
        return { reason: "names hosts by address; berth's --host takes a host name" };
      else if (w === "-n" || w === "--lines") args.push("--lines", quote(v));
      else if (w === "-g" || w === "--grep") args.push("--grep", quote(v));
      else return { reason: "chooses a Kamal destination; a berth stack is chosen with --stack" };
    } else if (w === "-i" || w === "--interactive") args.push("--interactive");
    else if (w === "-f" || w === "--follow") args.push("--follow");
    else if (["--reuse", "-p", "--primary", "-q", "--quiet", "-v", "--verbose"].includes(w)) continue;
    else if (w.startsWith("-")) return { reason: `the option ${w} has no berth equivalent` };
    else positional.push(w);
  }
  const line = (cmd: string[]) => [...cmd, ...args, ...positional.map(quote)].join(" ");
  if (group === "app" && (verb === "exec" || verb === "logs")) return line([verb]);
  if (group === "app" && verb === "details") return args.length || positional.length ? line(["details"]) : "details";
  if (group === "accessory" && ["exec", "logs", "details"].includes(verb)) return line(["accessory", verb]);
  return {
    reason: `\`kamal ${words.join(" ")}\` has no berth command of the same meaning; deploys and rollbacks are \`pulumi up\` and \`berth rollback\``,
  };
}

/**
 * Kamal aliases are kamal command lines; those with a berth command of the same meaning (app
 * exec and logs, details, accessory exec, logs and details) become berth:aliases.
 */
export function mapAliases(ctx: ImportContext, value: unknown): Record<string, string> | undefined {
  const { hash, problem, skip, notes } = ctx;
  const all = hash(value, "aliases");
  if (!all) return undefined;
  const out: Record<string, string> = {};
  for (const [name, line] of Object.entries(all)) {
    const at = `aliases/${name}`;
    const words = typeof line === "string" ? commandWords(line) : undefined;
    if (!words) {
      problem(at, "should be a kamal command line");
      continue;
    }
    const berth = aliasCommand(words);
    if (typeof berth !== "string") {
      skip(at, berth.reason);
      continue;
    }
    const alias = lower(name);
    if (BUILT_IN_COMMANDS.includes(alias)) {
      skip(at, `berth has a built-in ${alias} command, which an alias cannot replace (berth ${berth})`);
      continue;
    }
    if (alias !== name) notes.push(`${at}: renamed to ${alias} (berth command names use dashes)`);
    out[alias] = berth;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
