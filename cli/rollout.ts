// `berth rollout status|set|promote|abort`: a canary (berth:canary) is operated by config changes
// deployed like any other, so the stack's history records every step of it; and `berth up
// --verify`, which rolls back to the last good update when the verification after the switch fails.
import { Command } from "commander";
import { quote } from "shell-quote";
import { parseSshUrl, readOutputs, StackOutputs } from "./outputs";
import { CANARY_KEY, PROXY_CONTAINER, ROLLOUT_PERCENT_KEY, VERIFY_ROLLBACK_KEY } from "../config/names";
import { captureOnHost } from "./remote";
import { deployed, parseHistory, Update, VERSION_KEY } from "./history";
import { CliError, execute, Io } from "./process";
import { changeAndDeploy, configGet, pulumiBinary, resolveStack, stackHistoryJson, stackOutputsJson } from "./pulumi";
import { Properties } from "../plan/properties";

/** The canary as the stack outputs describe it (components/app.ts CanaryOutput). */
export interface CanaryStatus {
  version: string;
  strategy: "traffic" | "hosts";
  percent: number;
  allowlist: string[];
  roles: Record<string, { service: string; container: string; hosts: string[] }>;
}

export function canaryText(stack: string, version: string, canary?: CanaryStatus | null): string {
  if (!canary) return `stack ${stack}: version ${version}, no canary running.\n`;
  const lines = [`stack ${stack}: version ${version}, canary ${canary.version} (strategy ${canary.strategy})`];
  if (canary.strategy === "traffic")
    lines.push(
      `  ${canary.percent}% of requests with a kamal-rollout cookie${canary.allowlist.length ? `, and always the cookies ${canary.allowlist.join(", ")}` : ""}, go to the canary`,
    );
  for (const [role, r] of Object.entries(canary.roles))
    lines.push(
      `  ${role}: ${r.container} on ${r.hosts.join(", ")}${canary.strategy === "traffic" ? ` (${r.service})` : ""}`,
    );
  lines.push(`Promote with \`berth rollout promote -s ${stack}\`, abort with \`berth rollout abort -s ${stack}\`.`);
  return lines.join("\n") + "\n";
}

/** `berth rollout set <percent>`: the share of requests, a whole number from 0 to 100. */
export function percentOf(text: string): number {
  const n = Number(text);
  if (!/^\d{1,3}$/.test(text) || n > 100)
    throw new CliError(`rollout set takes a percentage from 0 to 100, not "${text}".`);
  return n;
}

async function runningCanary(
  io: Io,
  stack: string,
): Promise<{ version: string; canary?: CanaryStatus; outputs: StackOutputs }> {
  const outputs = readOutputs(await stackOutputsJson(io, stack), stack) as StackOutputs & {
    canary?: CanaryStatus | null;
  };
  if (!outputs.version)
    throw new CliError(`stack ${stack} runs no app (no version in its outputs): a canary needs the app's roles.`);
  return { version: outputs.version, canary: outputs.canary ?? undefined, outputs };
}

/**
 * Where kamal-proxy v0.9.2 keeps its state in its container: the kamal-proxy user's home
 * (its Dockerfile's useradd), .config/kamal-proxy/kamal-proxy.state (internal/server/config.go
 * StatePath), rewritten after each change as a JSON list of services (router.go
 * saveStateSnapshot, service.go MarshalJSON).
 */
export const PROXY_STATE_FILE = "/home/kamal-proxy/.config/kamal-proxy/kamal-proxy.state";

interface ProxyService {
  name: string;
  active_targets?: string[] | null;
  rollout_targets?: string[] | null;
  rollout_controller?: { percentage: number; allowlist?: string[] | null } | null;
}

/** One line per service: what kamal-proxy on the host serves and splits right now. */
export function liveText(host: string, service: string, state: string): string {
  let services: ProxyService[];
  try {
    services = JSON.parse(state) as ProxyService[];
  } catch {
    return `  ${host}: kamal-proxy's state could not be read\n`;
  }
  const s = services.find((x) => x.name === service);
  if (!s) return `  ${host}: kamal-proxy has no service ${service}\n`;
  const split = s.rollout_controller
    ? `${s.rollout_controller.percentage}%${s.rollout_controller.allowlist?.length ? ` + ${s.rollout_controller.allowlist.join(",")}` : ""} to ${(s.rollout_targets ?? []).join(", ")}`
    : "no split";
  return `  ${host}: ${service} serves ${(s.active_targets ?? []).join(", ")}; ${split}\n`;
}

async function requireCanary(io: Io, stack: string, verb: string): Promise<CanaryStatus> {
  const { canary } = await runningCanary(io, stack);
  if (!canary)
    throw new CliError(
      `stack ${stack} runs no canary, so there is nothing to ${verb}: start one with \`pulumi config set berth:canary <version> -s ${stack}\` and \`berth up -s ${stack}\`.`,
    );
  return canary;
}

/** The newest successful deploy, with the canary it ran (if any): where a failed update goes back to. */
export function lastGood(history: Update[], json: unknown): { update: Update; canary?: string } {
  const good = history.filter(deployed)[0];
  if (!good) throw new CliError("no successful deploy to roll back to yet.");
  const raw = (json as Properties[]).find((u) => Number(u.version) === good.update);
  const canary = raw?.config?.[CANARY_KEY]?.value;
  return { update: good, canary: typeof canary === "string" ? canary : undefined };
}

/** A failed `pulumi up` whose failure is a failed verification (the verdict components/commands/rollout.ts prints). */
export const VERIFICATION_FAILED = /berth: verification FAILED/;

export function registerRollout(program: Command, io: Io): void {
  const rollout = program
    .command("rollout")
    .description("Operate a canary (berth:canary): status, set the traffic share, promote it, or abort it.");
  const stackOpt = ["-s, --stack <name>", "stack (default: BERTH_STACK or the selected stack)"] as const;
  const yesOpt = ["-y, --yes", "deploy without asking after the preview"] as const;

  rollout
    .command("status")
    .description("The canary the stack runs: version, strategy, traffic share, hosts.")
    .option(...stackOpt)
    .action(async (opts: { stack?: string }) => {
      const stack = await resolveStack(io, opts.stack);
      const { version, canary, outputs } = await runningCanary(io, stack);
      io.out(canaryText(stack, version, canary));
      // What each host's kamal-proxy serves and splits now (after a failed update it may differ).
      const proxied = Object.entries(outputs.roles).filter(([, r]) => r.proxied);
      if (proxied.length) io.out("Live on the hosts:\n");
      const read = quote(["docker", "exec", PROXY_CONTAINER, "cat", PROXY_STATE_FILE]);
      for (const [name, role] of proxied) {
        // kamal-proxy's service of a role, as components/commands/proxy.ts proxyService names it.
        const service = canary?.roles[name]?.service ?? `${outputs.service}-${name}-${outputs.stack}`;
        for (const host of role.hosts) {
          const h = outputs.hosts[host];
          if (!h) continue;
          const r = await captureOnHost(io, host, parseSshUrl(h.ssh), read, outputs.knownHosts);
          io.out(
            r.code === 0
              ? liveText(host, service, r.stdout)
              : `  ${host}: could not read kamal-proxy's state (exit ${r.code})\n`,
          );
        }
      }
    });

  rollout
    .command("set")
    .description("Send <percent> of requests to the traffic canary: sets berth:rollout.percent, previews, deploys.")
    .argument("<percent>", "0 to 100")
    .option(...stackOpt)
    .option(...yesOpt)
    .action(async (percent: string, opts: { stack?: string; yes?: boolean }) => {
      const share = percentOf(percent);
      const stack = await resolveStack(io, opts.stack);
      const canary = await requireCanary(io, stack, "set");
      if (canary.strategy !== "traffic")
        throw new CliError(
          `the canary of stack ${stack} is a host canary: it gets its hosts' whole traffic. Name other hosts in berth:rollout.hosts, or promote it.`,
        );
      await changeAndDeploy(io, stack, [{ key: ROLLOUT_PERCENT_KEY, value: String(share) }], {
        yes: !!opts.yes,
        message: `berth rollout set ${share}% to ${canary.version}`,
      });
    });

  rollout
    .command("promote")
    .description("Make the canary the deployed version on every host (berth:version), then remove berth:canary.")
    .option(...stackOpt)
    .option(...yesOpt)
    .action(async (opts: { stack?: string; yes?: boolean }) => {
      const stack = await resolveStack(io, opts.stack);
      const canary = await requireCanary(io, stack, "promote");
      await changeAndDeploy(
        io,
        stack,
        [
          { key: VERSION_KEY, value: canary.version, stateOnly: true },
          { key: CANARY_KEY, value: undefined },
        ],
        { yes: !!opts.yes, message: `berth rollout promote ${canary.version}` },
      );
    });

  rollout
    .command("abort")
    .description("Remove the canary: every request and host back on the deployed version.")
    .option(...stackOpt)
    .option(...yesOpt)
    .action(async (opts: { stack?: string; yes?: boolean }) => {
      const stack = await resolveStack(io, opts.stack);
      const canary = await requireCanary(io, stack, "abort");
      await changeAndDeploy(io, stack, [{ key: CANARY_KEY, value: undefined }], {
        yes: !!opts.yes,
        message: `berth rollout abort ${canary.version}`,
      });
    });
}

/**
 * `pulumi up` for `berth up --verify` (or berth:verify.rollback: true): when the update fails its
 * verification, the stack goes back to the last good update (its version and canary), as a new
 * update, so the history shows the failed one and the rollback.
 */
export async function upWithRollback(io: Io, stack: string, pulumiArgs: string[], verify: boolean): Promise<void> {
  const rollback = verify || (await configGet(io, stack, VERIFY_ROLLBACK_KEY)) === "true";
  let seen = "";
  const tee = rollback
    ? { ...io, out: (t: string) => ((seen += t), io.out(t)), err: (t: string) => ((seen += t), io.err(t)) }
    : io;
  const { code } = await execute(tee, pulumiBinary(io), ["up", "--stack", stack, ...pulumiArgs], {
    terminal: !rollback && !!io.terminal,
  });
  if (code === 0) return;
  if (!rollback || !VERIFICATION_FAILED.test(seen)) throw new CliError(`pulumi up failed (exit ${code}).`, code);
  const json = await stackHistoryJson(io, stack);
  const { update, canary } = lastGood(parseHistory(json), json);
  io.err(
    `Verification failed: rolling stack ${stack} back to version ${update.version}${canary ? ` with canary ${canary}` : ""} (update #${update.update}).\n`,
  );
  await changeAndDeploy(
    io,
    stack,
    [
      { key: VERSION_KEY, value: update.version!, stateOnly: true },
      { key: CANARY_KEY, value: canary },
    ],
    {
      yes: true,
      message: `berth rollback to ${update.version} (update #${update.update}) after a failed verification`,
    },
  );
  throw new CliError(
    `the update failed its verification; stack ${stack} is back on version ${update.version}. See \`berth history -s ${stack}\`.`,
    code,
  );
}
