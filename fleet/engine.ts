// The fleet's only door to Pulumi: the Automation API (LocalWorkspace on berth's project
// directory, one stack per app and environment). Everything here runs the `pulumi` CLI the
// Automation API finds: the installed one, or the one under `pulumiRoot/bin`.
import { EngineEvent, LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";

export interface EngineOptions {
  /** berth's project directory: Pulumi.yaml, the program, and the stacks' settings files. */
  workDir: string;
  /** Directory holding bin/pulumi; default: `pulumi` on PATH. */
  pulumiRoot?: string;
  /** Backend, passphrase, cloud tokens: the CLI's environment, never written anywhere. */
  env: Record<string, string>;
}

export interface UpdateHooks {
  onEvent: (event: EngineEvent) => void;
  onOutput?: (text: string) => void;
  signal?: AbortSignal;
  message?: string;
}

export class Engine {
  private workspace?: Promise<LocalWorkspace>;

  constructor(readonly opts: EngineOptions) {}

  private ws(): Promise<LocalWorkspace> {
    this.workspace ??= (async () => {
      const pulumiCommand = await PulumiCommand.get(this.opts.pulumiRoot ? { root: this.opts.pulumiRoot } : {});
      return LocalWorkspace.create({ workDir: this.opts.workDir, pulumiCommand, envVars: this.opts.env });
    })();
    this.workspace.catch(() => (this.workspace = undefined));
    return this.workspace;
  }

  private stacks = new Map<string, Promise<Stack>>();

  /**
   * The app's stack, created on first use. Selected once per process: every later command names
   * the stack itself (`--stack`), so selecting it again before each would only start one more CLI.
   */
  async stack(name: string): Promise<Stack> {
    let stack = this.stacks.get(name);
    if (!stack) {
      stack = this.ws().then((ws) => Stack.createOrSelect(name, ws));
      this.stacks.set(name, stack);
      stack.catch(() => this.stacks.delete(name));
    }
    return stack;
  }

  /**
   * Writes config: plain values as they are, secrets with `secret: true` (the CLI encrypts them
   * with the stack's secrets provider); keys the new config no longer has are removed.
   */
  async applyConfig(
    stack: Stack,
    plain: Record<string, string>,
    secrets: Record<string, string>,
    remove: string[],
  ): Promise<void> {
    const map: Record<string, { value: string; secret?: boolean }> = {};
    for (const [k, v] of Object.entries(plain)) map[k] = { value: v };
    for (const [k, v] of Object.entries(secrets)) map[k] = { value: v, secret: true };
    if (Object.keys(map).length) await stack.setAllConfig(map, true);
    if (remove.length) await stack.removeAllConfig(remove);
  }

  async up(stack: Stack, hooks: UpdateHooks) {
    return stack.up({
      onEvent: hooks.onEvent,
      onOutput: hooks.onOutput,
      signal: hooks.signal,
      message: hooks.message,
    });
  }

  /** After an interrupted update: read the real state and drop operations that never finished. */
  async refresh(stack: Stack, hooks: UpdateHooks) {
    return stack.refresh({ onEvent: hooks.onEvent, clearPendingCreates: true, message: hooks.message });
  }

  /** Releases the stack's lock left by an update whose process died (`pulumi cancel`). */
  async releaseLock(stack: Stack): Promise<string> {
    try {
      await stack.cancel();
      return "released the stack's lock";
    } catch (err) {
      const text = String((err as Error).message);
      if (/no update in progress|not currently locked/i.test(text)) return "the stack held no lock";
      throw err;
    }
  }

  async lastUpdate(stack: Stack) {
    return stack.info(false);
  }
}
