// The user's own commands from `berth:aliases` in Pulumi.<stack>.yaml (Kamal's aliases).
import * as fs from "node:fs";
import * as path from "node:path";
import { aliasesSchema, commandWords } from "../config/app";
import { ConfigError, formatIssues, fromEngineConfig, readStackFile } from "../config/load";
import { CliError } from "./process";

/**
 * Reads `berth:aliases` from the stack file with the schema's own check of that key. The rest
 * of the file is not validated here: secrets set only on the deploying machine must not stop
 * an alias from working elsewhere.
 */
export function readAliases(dir: string, stack: string): Record<string, string> {
  const file = path.join(dir, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(file)) return {};
  try {
    const raw = fromEngineConfig(readStackFile(file, () => "").config).aliases;
    const result = aliasesSchema.optional().safeParse(raw);
    if (!result.success)
      throw new ConfigError(
        formatIssues(result.error.issues.map((i) => ({ ...i, path: ["aliases", ...i.path] }))),
        file,
      );
    return result.data ?? {};
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(`cannot read aliases: ${err.message}`);
    throw err;
  }
}

/**
 * `berth NAME ARGS...` -> the alias's command line followed by ARGS. Built-in commands win:
 * an alias that names one is an error, so a config file can never change what `logs` does.
 */
export function expandAlias(argv: string[], aliases: Record<string, string>, builtIn: string[]): string[] {
  const index = commandIndex(argv);
  if (index < 0) return argv;
  const name = argv[index];
  const line = aliases[name];
  if (line === undefined) return argv;
  if (builtIn.includes(name))
    throw new CliError(`alias "${name}" in berth:aliases has the name of a built-in command; rename it.`);
  const words = commandWords(line) ?? [];
  if (words[0] !== undefined && aliases[words[0]] !== undefined && !builtIn.includes(words[0]))
    throw new CliError(`alias "${name}" runs another alias ("${words[0]}"); write out the command it stands for.`);
  // Options given before the alias name (say `-s production`) belong to the command it runs.
  return [...words, ...argv.slice(0, index), ...argv.slice(index + 1)];
}

/** The stack named on the command line (--stack X, --stack=X, -s X), if any. */
export function stackArgument(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") return undefined;
    if ((a === "--stack" || a === "-s") && i + 1 < argv.length) return argv[i + 1];
    if (a.startsWith("--stack=")) return a.slice("--stack=".length);
  }
  return undefined;
}

/** Where the command name is: the first word that is neither an option nor a --stack value. */
export function commandIndex(argv: string[]): number {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--stack" || argv[i] === "-s") i++;
    else if (!argv[i].startsWith("-")) return i;
  }
  return -1;
}
