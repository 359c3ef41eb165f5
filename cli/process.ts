// How the command line talks to the world: its output streams, a confirmation prompt, and the
// programs it runs (pulumi, ssh, git). Tests pass their own Io to capture everything.
import { spawn } from "node:child_process";
import * as readline from "node:readline/promises";

export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Asks a yes/no question; false when nobody can answer (no terminal). */
  confirm(question: string): Promise<boolean>;
}

/** A mistake or failure the user can act on: printed without a stack trace, exit code 1. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}

export function processIo(): Io {
  return {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    env: process.env,
    cwd: process.cwd(),
    async confirm(question) {
      if (!process.stdin.isTTY) return false;
      const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
      try {
        return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
      } finally {
        rl.close();
      }
    },
  };
}

export interface RunOptions {
  /** Keep stdout and return it instead of printing it. */
  capture?: boolean;
  /** Give the program this terminal (interactive sessions). */
  terminal?: boolean;
  /** What to tell the user when the program is not installed. */
  missing?: string;
  cwd?: string;
}

/** Runs a program without a shell. Resolves with its exit code and, when captured, its stdout. */
export function execute(
  io: Io,
  file: string,
  args: string[],
  opts: RunOptions = {},
): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd ?? io.cwd,
      env: io.env,
      stdio: opts.terminal ? "inherit" : ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => (opts.capture ? (stdout += d) : io.out(d)));
    child.stderr?.setEncoding("utf8").on("data", (d: string) => io.err(d));
    child.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") reject(new CliError(`${file}: not found. ${opts.missing ?? ""}`.trim()));
      else reject(err);
    });
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout }));
  });
}
