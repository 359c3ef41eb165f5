// The Pulumi CLI as berth uses it: stack outputs, update history, config changes, preview, up.
import { CliError, execute, Io } from "./process";

export const pulumiBinary = (io: Io) => io.env.BERTH_PULUMI || "pulumi";

const MISSING =
  "Install the Pulumi CLI (https://www.pulumi.com/docs/iac/download-install/) or point BERTH_PULUMI at it.";

/** The argument lists berth passes to `pulumi`, one place so tests can check them. */
export const pulumiArgs = {
  outputs: (stack: string) => ["stack", "output", "--json", "--stack", stack],
  history: (stack: string) => ["stack", "history", "--json", "--stack", stack],
  configGet: (stack: string, key: string) => ["config", "get", key, "--path", "--stack", stack],
  configSet: (stack: string, key: string, value: string) => ["config", "set", key, value, "--path", "--stack", stack],
  configRm: (stack: string, key: string) => ["config", "rm", key, "--path", "--stack", stack],
  preview: (stack: string) => ["preview", "--stack", stack],
  up: (stack: string, message: string) => ["up", "--yes", "--skip-preview", "--stack", stack, "--message", message],
  selected: () => ["stack", "--show-name"],
};

async function capture(io: Io, args: string[], what: string): Promise<string> {
  const { code, stdout } = await execute(io, pulumiBinary(io), args, { capture: true, missing: MISSING });
  if (code !== 0)
    throw new CliError(`\`pulumi ${args.join(" ")}\` failed (exit ${code}) while ${what}; see its message above.`);
  return stdout;
}

async function stream(io: Io, args: string[], what: string): Promise<void> {
  const { code } = await execute(io, pulumiBinary(io), args, { missing: MISSING });
  if (code !== 0) throw new CliError(`\`pulumi ${args.join(" ")}\` failed (exit ${code}) while ${what}.`, code);
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new CliError(`could not read ${what}: pulumi did not answer with JSON.`);
  }
}

/** The stack given with --stack, or BERTH_STACK, or the one selected with `pulumi stack select`. */
export async function resolveStack(io: Io, given?: string): Promise<string> {
  if (given) return given;
  if (io.env.BERTH_STACK) return io.env.BERTH_STACK;
  const { code, stdout } = await execute(io, pulumiBinary(io), pulumiArgs.selected(), {
    capture: true,
    missing: MISSING,
  });
  const name = stdout.trim();
  if (code !== 0 || !name)
    throw new CliError("no stack given: pass --stack NAME (or set BERTH_STACK, or run `pulumi stack select NAME`).");
  return name;
}

export async function stackOutputsJson(io: Io, stack: string): Promise<unknown> {
  return parseJson(
    await capture(io, pulumiArgs.outputs(stack), `reading the outputs of stack ${stack}`),
    "stack outputs",
  );
}

export async function stackHistoryJson(io: Io, stack: string): Promise<unknown> {
  return parseJson(
    await capture(io, pulumiArgs.history(stack), `reading the history of stack ${stack}`),
    "stack history",
  );
}

export async function configGet(io: Io, stack: string, key: string): Promise<string | undefined> {
  const { code, stdout } = await execute(io, pulumiBinary(io), pulumiArgs.configGet(stack, key), {
    capture: true,
    missing: MISSING,
  });
  return code === 0 ? stdout.replace(/\n$/, "") : undefined;
}

export async function configSet(io: Io, stack: string, key: string, value: string): Promise<void> {
  await capture(io, pulumiArgs.configSet(stack, key, value), `setting ${key}`);
}

/**
 * Applies a config change the way every deploy happens: set it, show `pulumi preview`, ask,
 * then `pulumi up`. Declined or failed previews put the previous values back, so the stack
 * file never says something that was not deployed.
 */
export async function changeAndDeploy(
  io: Io,
  stack: string,
  /** A value undefined removes the key. */
  changes: { key: string; value: string | undefined; stateOnly?: boolean }[],
  opts: { yes: boolean; message: string },
): Promise<void> {
  const previous = new Map<string, string | undefined>();
  for (const c of changes) previous.set(c.key, await configGet(io, stack, c.key));
  const restore = async (keys: string[]) => {
    for (const key of keys) {
      const value = previous.get(key);
      if (value !== undefined) await configSet(io, stack, key, value);
      else await execute(io, pulumiBinary(io), pulumiArgs.configRm(stack, key), { capture: true });
    }
  };
  for (const c of changes)
    if (c.value !== undefined) await configSet(io, stack, c.key, c.value);
    else if (previous.get(c.key) !== undefined)
      await execute(io, pulumiBinary(io), pulumiArgs.configRm(stack, c.key), { capture: true });
  try {
    await stream(io, pulumiArgs.preview(stack), `previewing stack ${stack}`);
    if (!opts.yes && !(await io.confirm(`Deploy this to stack ${stack}?`)))
      throw new CliError(`not deployed: nothing changed on stack ${stack}. Run again with --yes to skip the question.`);
  } catch (err) {
    await restore([...previous.keys()]);
    throw err;
  }
  await stream(io, pulumiArgs.up(stack, opts.message), `deploying stack ${stack}`);
  // A value the stack's state keeps (berth:version: the stack's `version` output) goes back out
  // of a stack file that did not name it, so this checkout does not pin it for later runs.
  const stateOnly = changes.filter((c) => c.stateOnly);
  await restore(stateOnly.filter((c) => previous.get(c.key) === undefined).map((c) => c.key));
  for (const c of stateOnly.filter((c) => previous.get(c.key) !== undefined))
    io.err(
      `Pulumi.${stack}.yaml names ${c.key}, so it now says ${c.value}: commit that, or remove the line (pulumi config rm ${c.key} -s ${stack}) to let the stack's state keep it.\n`,
    );
}
