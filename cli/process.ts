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
  /**
   * Asks for one line of input; `hidden` leaves what is typed off the screen (secrets). Undefined
   * when nobody can answer. Without it, commands that need answers say how to give them instead.
   */
  prompt?(question: string, hidden: boolean): Promise<string | undefined>;
  /** True when a person is at a terminal: programs such as `pulumi up` then get it directly. */
  terminal?: boolean;
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

/**
 * Reads one line from a terminal without echoing it: raw mode, each key handled here (Enter ends,
 * Backspace deletes, Ctrl-C and Ctrl-D stop).
 */
function readHidden(question: string): Promise<string | undefined> {
  const input = process.stdin;
  // Raw mode first: a key pressed while the question is printed must not be echoed either.
  input.setRawMode(true);
  process.stderr.write(question);
  return new Promise((resolve) => {
    let value = "";
    const finish = (result: string | undefined, rest: string) => {
      typedAhead = rest;
      input.setRawMode(false);
      input.pause();
      input.off("data", onData);
      process.stderr.write("\n");
      resolve(result);
    };
    const onData = (chunk: Buffer | string) => {
      const text = chunk.toString();
      for (let i = 0; i < text.length; i++) {
        const ch = text[i];
        if (ch === "\r" || ch === "\n") return finish(value, text.slice(i + 1).replace(/^\n/, ""));
        if (ch === "\u0003" || ch === "\u0004") return finish(undefined, "");
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else value += ch;
      }
    };
    input.on("data", onData);
    input.resume();
    // Keys typed before this question (answers typed ahead) count first.
    if (typedAhead) {
      const ahead = typedAhead;
      typedAhead = "";
      onData(ahead);
    }
  });
}
let typedAhead = "";

let pipedLines: string[] | undefined;
/** The next line of a piped (non-terminal) standard input, e.g. `printf 'a\nb\n' | berth init`. */
async function readPipedLine(): Promise<string | undefined> {
  if (pipedLines === undefined) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    pipedLines = Buffer.concat(chunks).toString("utf8").split(/\r?\n/);
  }
  return pipedLines.length > 0 && !(pipedLines.length === 1 && pipedLines[0] === "") ? pipedLines.shift() : undefined;
}

export function processIo(): Io {
  return {
    terminal: !!process.stdin.isTTY && !!process.stdout.isTTY,
    async prompt(question, hidden) {
      if (!process.stdin.isTTY) {
        process.stderr.write(`${question}(read from standard input)\n`);
        return readPipedLine();
      }
      if (hidden) return readHidden(question);
      const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
      try {
        return await rl.question(question);
      } finally {
        rl.close();
      }
    },
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
  /** Text for the program's standard input (a secret value: never a command-line argument). */
  input?: string;
  /** Extra environment (a passphrase), over the Io's. */
  env?: NodeJS.ProcessEnv;
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
      env: { ...io.env, ...opts.env },
      stdio: opts.terminal ? "inherit" : [opts.input !== undefined ? "pipe" : "ignore", "pipe", "pipe"],
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
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

/**
 * Runs a long step with progress on stderr: what it is doing, then how long it took, so a slow
 * command never looks stuck.
 */
export async function step<T>(io: Io, label: string, run: () => Promise<T>): Promise<T> {
  io.err(`berth: ${label}...\n`);
  const start = Date.now();
  const result = await run();
  io.err(`berth: ${label}: done in ${((Date.now() - start) / 1000).toFixed(1)} s\n`);
  return result;
}
