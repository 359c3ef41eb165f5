// Commands that run docker on the hosts over ssh: logs, exec, console, shell, dbc, details and
// the accessory verbs. Building the command lines is pure (tested line by line); running them
// is a thin loop over the targets.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Command, Option } from "commander";
import { quote } from "shell-quote";
import { PROXY_CONTAINER, VERSION_LABEL } from "../config/names";
import { accessoryTargets, allHosts, appTargets, readOutputs, SshEndpoint, StackOutputs, Target } from "./outputs";
import { CliError, execute, Io } from "./process";
import { resolveStack, stackOutputsJson } from "./pulumi";

/** kamal-proxy's container, the same name on every host that serves web traffic. */

/**
 * The ssh argument list: interactive sessions get a terminal (-t), the rest never ask (BatchMode).
 * Host keys are checked strictly, never accepted on first use: against the stack's `knownHosts`
 * output (written to `knownHostsFile`) when there is one, or else the user's own known_hosts.
 */
export function sshArgs(
  ssh: SshEndpoint,
  remoteCommand: string,
  opts: { terminal?: boolean; knownHostsFile?: string } = {},
): string[] {
  const hostKeys = opts.knownHostsFile
    ? ["-o", `UserKnownHostsFile=${opts.knownHostsFile}`, "-o", "GlobalKnownHostsFile=/dev/null"]
    : [];
  return [
    ...(opts.terminal ? ["-t"] : ["-o", "BatchMode=yes"]),
    "-o",
    "StrictHostKeyChecking=yes",
    ...hostKeys,
    "-p",
    String(ssh.port),
    `${ssh.user}@${ssh.address}`,
    remoteCommand,
  ];
}

export interface LogOptions {
  follow?: boolean;
  lines?: number;
  grep?: string;
}

/** `docker logs` as Kamal runs it: stderr folded into stdout so --grep sees both. */
export function logsCommand(container: string, opts: LogOptions = {}): string {
  const lines = opts.lines ?? (opts.follow ? 10 : 100);
  const args = ["docker", "logs", ...(opts.follow ? ["--follow"] : []), "--tail", String(lines), container];
  let cmd = `${quote(args)} 2>&1`;
  if (opts.grep !== undefined)
    cmd += ` | ${quote(["grep", ...(opts.follow ? ["--line-buffered"] : []), "--", opts.grep])}`;
  return cmd;
}

/**
 * `docker exec` in the running container. The command is passed on as written, like Kamal's
 * `app exec --reuse`: it may carry its own quoting.
 */
export function execCommand(container: string, command: string, opts: { interactive?: boolean } = {}): string {
  return `${quote(["docker", "exec", ...(opts.interactive ? ["--interactive", "--tty"] : []), container])} ${command}`;
}

/** A login shell in the container: bash where the image has it, sh otherwise. */
export const SHELL_COMMAND = `sh -c ${quote(["if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi"])}`;
export const CONSOLE_COMMAND = "bin/rails console";
export const DBCONSOLE_COMMAND = "bin/rails dbconsole";

const PS_FORMAT = `table {{.Names}}\t{{.Image}}\t{{.Label "${VERSION_LABEL}"}}\t{{.Status}}`;

/** The app's containers on a host (every version still there), then kamal-proxy's. */
export function detailsCommand(service: string, stack: string): string {
  return [
    quote([
      "docker",
      "ps",
      "--all",
      "--filter",
      `label=service=${service}`,
      "--filter",
      `label=destination=${stack}`,
      "--format",
      PS_FORMAT,
    ]),
    quote([
      "docker",
      "ps",
      "--all",
      "--filter",
      `name=^${PROXY_CONTAINER}$`,
      "--format",
      "{{.Names}}\t{{.Image}}\t-\t{{.Status}}",
    ]),
  ].join(" && ");
}

export function containerDetailsCommand(container: string): string {
  return quote(["docker", "ps", "--all", "--filter", `name=^${container}$`, "--format", PS_FORMAT]);
}

/**
 * The command typed after `exec`: one word (a quoted string) is a command line passed on as
 * written; several words are quoted one by one, so `exec -- sh -c 'echo $HOME'` keeps its quotes.
 */
export function commandLine(words: string[]): string {
  return words.length === 1 ? words[0] : quote(words);
}

export const sshBinary = (io: Io) => io.env.BERTH_SSH || "ssh";

/**
 * One ssh run per host, in order; the first failure stops and sets the exit code. The stack's
 * host keys go to a private temporary known_hosts file for the duration.
 */
async function onHosts(
  io: Io,
  runs: { host: string; ssh: SshEndpoint; command: string }[],
  opts: { terminal?: boolean; quiet?: boolean; knownHosts?: string } = {},
): Promise<void> {
  const dir = opts.knownHosts ? fs.mkdtempSync(path.join(os.tmpdir(), "berth-known-hosts-")) : undefined;
  const knownHostsFile = dir ? path.join(dir, "known_hosts") : undefined;
  if (knownHostsFile) fs.writeFileSync(knownHostsFile, opts.knownHosts!, { mode: 0o600 });
  else
    io.err(
      "This stack has no knownHosts output yet (deployed with an older berth): ssh checks the hosts against your own known_hosts. Run `pulumi up` to record them.\n",
    );
  try {
    for (const r of runs) {
      if (!opts.quiet) io.out(`== ${r.host} (${r.ssh.address}) ==\n`);
      const { code } = await execute(io, sshBinary(io), sshArgs(r.ssh, r.command, { ...opts, knownHostsFile }), {
        terminal: opts.terminal,
        missing: "Install an OpenSSH client, or point BERTH_SSH at one.",
      });
      if (code !== 0)
        throw new CliError(
          `on host ${r.host}: \`${r.command}\` failed (exit ${code}). Check that the host is up, your SSH key is loaded (ssh -p ${r.ssh.port} ${r.ssh.user}@${r.ssh.address}) and, if ssh reported a changed host key, that the stack's knownHosts output is current (\`pulumi stack output knownHosts\`).`,
          code,
        );
    }
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** One command on one host, its output captured (for commands that read state, not for people). */
export async function captureOnHost(
  io: Io,
  host: string,
  ssh: SshEndpoint,
  command: string,
  knownHosts?: string,
): Promise<{ code: number; stdout: string }> {
  const dir = knownHosts ? fs.mkdtempSync(path.join(os.tmpdir(), "berth-known-hosts-")) : undefined;
  const knownHostsFile = dir ? path.join(dir, "known_hosts") : undefined;
  if (knownHostsFile) fs.writeFileSync(knownHostsFile, knownHosts!, { mode: 0o600 });
  try {
    return await execute(io, sshBinary(io), sshArgs(ssh, command, { knownHostsFile }), {
      capture: true,
      missing: "Install an OpenSSH client, or point BERTH_SSH at one.",
    });
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Interactive and follow-mode commands run on one host: the one given, or the first. */
function single(io: Io, targets: Target[], why: string): Target[] {
  if (targets.length > 1)
    io.err(
      `${why} runs on one host: ${targets[0].host} (pass --host to choose among ${targets.map((t) => t.host).join(", ")}).\n`,
    );
  return targets.slice(0, 1);
}

const stackOption = () => new Option("-s, --stack <name>", "stack (default: BERTH_STACK or the selected stack)");
const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new CliError(`-n must be a whole number of lines, not "${v}".`);
  return n;
};

async function outputsFor(io: Io, stackOpt?: string): Promise<StackOutputs> {
  const stack = await resolveStack(io, stackOpt);
  return readOutputs(await stackOutputsJson(io, stack), stack);
}

interface TargetOpts {
  stack?: string;
  role?: string;
  host?: string;
}

export async function runLogs(io: Io, targets: Target[], opts: LogOptions, knownHosts?: string): Promise<void> {
  const chosen = opts.follow ? single(io, targets, "--follow") : targets;
  await onHosts(
    io,
    chosen.map((t) => ({ ...t, command: logsCommand(t.container, opts) })),
    { knownHosts },
  );
}

export async function runExec(
  io: Io,
  targets: Target[],
  command: string,
  interactive: boolean,
  knownHosts?: string,
): Promise<void> {
  const chosen = interactive ? single(io, targets, "an interactive session") : targets;
  await onHosts(
    io,
    chosen.map((t) => ({ ...t, command: execCommand(t.container, command, { interactive }) })),
    { terminal: interactive, quiet: interactive, knownHosts },
  );
}

export function registerRemote(program: Command, io: Io): void {
  const withTarget = (cmd: Command) =>
    cmd
      .addOption(stackOption())
      .option("-r, --role <role>", "role whose containers to use (default: web)")
      .option("-H, --host <host>", "only this host");

  withTarget(program.command("logs").description("Show the app's container logs on each host of a role."))
    .option("-f, --follow", "keep following (one host)")
    .option("-n, --lines <n>", "lines from the end of each log (default 100, or 10 with --follow)", positiveInt)
    .option("-g, --grep <text>", "only lines containing this text")
    .action(async (opts: TargetOpts & LogOptions) => {
      const outputs = await outputsFor(io, opts.stack);
      await runLogs(io, appTargets(outputs, opts), opts, outputs.knownHosts);
    });

  withTarget(
    program.command("exec").description("Run a command in the app's running container on each host of a role."),
  )
    .option("-i, --interactive", "attach a terminal (one host)")
    .argument("<command...>", "the command, as you would type it in the container")
    .action(async (words: string[], opts: TargetOpts & { interactive?: boolean }) => {
      const outputs = await outputsFor(io, opts.stack);
      await runExec(io, appTargets(outputs, opts), commandLine(words), !!opts.interactive, outputs.knownHosts);
    });

  const session = (name: string, description: string, command: string) =>
    withTarget(program.command(name).description(description)).action(async (opts: TargetOpts) => {
      const outputs = await outputsFor(io, opts.stack);
      await runExec(io, appTargets(outputs, opts), command, true, outputs.knownHosts);
    });
  session("console", "Open a Rails console (bin/rails console) in the app container.", CONSOLE_COMMAND);
  session("shell", "Open a shell (bash, or sh) in the app container.", SHELL_COMMAND);
  session("dbc", "Open a database console (bin/rails dbconsole) in the app container.", DBCONSOLE_COMMAND);

  program
    .command("details")
    .description("Containers, versions and health on every host of the stack.")
    .addOption(stackOption())
    .option("-H, --host <host>", "only this host")
    .action(async (opts: { stack?: string; host?: string }) => {
      const outputs = await outputsFor(io, opts.stack);
      const hosts = allHosts(outputs).filter((h) => !opts.host || h.host === opts.host);
      if (!hosts.length)
        throw new CliError(
          `no host "${opts.host}" in stack ${outputs.stack}; hosts: ${Object.keys(outputs.hosts).join(", ")}.`,
        );
      io.out(
        `service ${outputs.service}, stack ${outputs.stack}, ${outputs.version !== undefined ? `deployed version ${outputs.version}` : "no roles deployed"}\n`,
      );
      await onHosts(
        io,
        hosts.map((h) => ({ ...h, command: detailsCommand(outputs.service, outputs.stack) })),
        { knownHosts: outputs.knownHosts },
      );
    });

  const accessory = program
    .command("accessory")
    .description("Logs, commands and details of accessories (databases, caches, ...).");
  accessory
    .command("logs")
    .description("Show an accessory's container logs.")
    .argument("<name>", "accessory name")
    .addOption(stackOption())
    .option("-H, --host <host>", "only this host")
    .option("-f, --follow", "keep following (one host)")
    .option("-n, --lines <n>", "lines from the end of the log", positiveInt)
    .option("-g, --grep <text>", "only lines containing this text")
    .action(async (name: string, opts: TargetOpts & LogOptions) => {
      const outputs = await outputsFor(io, opts.stack);
      await runLogs(io, accessoryTargets(outputs, name, opts.host), opts, outputs.knownHosts);
    });
  accessory
    .command("exec")
    .description("Run a command in an accessory's container.")
    .argument("<name>", "accessory name")
    .argument("<command...>", "the command")
    .addOption(stackOption())
    .option("-H, --host <host>", "only this host")
    .option("-i, --interactive", "attach a terminal (one host)")
    .action(async (name: string, words: string[], opts: TargetOpts & { interactive?: boolean }) => {
      const outputs = await outputsFor(io, opts.stack);
      await runExec(
        io,
        accessoryTargets(outputs, name, opts.host),
        commandLine(words),
        !!opts.interactive,
        outputs.knownHosts,
      );
    });
  accessory
    .command("details")
    .description("An accessory's container, image and health on its hosts.")
    .argument("<name>", "accessory name")
    .addOption(stackOption())
    .action(async (name: string, opts: { stack?: string }) => {
      const outputs = await outputsFor(io, opts.stack);
      await onHosts(
        io,
        accessoryTargets(outputs, name).map((t) => ({ ...t, command: containerDetailsCommand(t.container) })),
        { knownHosts: outputs.knownHosts },
      );
    });
}
