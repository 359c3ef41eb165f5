// `berth doctor`: everything a first `pulumi up` needs, checked before it runs, each missing
// piece with the one command that supplies it. `berth up` and `berth preview` run it first.
import * as fs from "node:fs";
import * as path from "node:path";
import { Command } from "commander";
import { parse } from "yaml";
import { ConfigError, fromEngineConfig, parseConfig, readStackFile } from "../config/load";
import { FINGERPRINT_KEY } from "../config/schema";
import { setSecretCommand } from "../config/secrets";
import { DEPLOYED_STAND_IN, secretStandIn, withMissingSecrets } from "./plan";
import { CliError, execute, Io } from "./process";
import { pulumiArgs, pulumiBinary } from "./pulumi";

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** The command or step that fixes it. */
  fix?: string;
}

const INSTALL_PULUMI = "install the Pulumi CLI: https://www.pulumi.com/docs/iac/download-install/";

/** Runs pulumi quietly; undefined when it is not installed. */
export async function pulumiQuiet(io: Io, args: string[], extra: { input?: string; env?: NodeJS.ProcessEnv } = {}) {
  let err = "";
  const quiet: Io = { ...io, err: (t) => (err += t), out: () => {} };
  try {
    const res = await execute(quiet, pulumiBinary(io), args, { capture: true, ...extra });
    return { ...res, stderr: err };
  } catch (e) {
    if (e instanceof CliError) return undefined;
    throw e;
  }
}

/**
 * Secrets and credentials the stack names that its file does not hold, from an offline read, and
 * whether the file leaves berth:version to the stack's state (checked apart: only the backend knows).
 */
export function missingCredentials(
  root: string,
  stack: string,
): { missing: string[]; problems: string[]; versionUnset: boolean } {
  const file = path.join(root, `Pulumi.${stack}.yaml`);
  let versionUnset = false;
  try {
    // Read as berth plan reads it: an encrypted value is a stand-in, checked for real by the program.
    const read = readStackFile(file, secretStandIn);
    versionUnset = read.config["berth:version"] === undefined;
    if (versionUnset) read.config["berth:version"] = DEPLOYED_STAND_IN;
    const { file: withStandIns, standIns } = withMissingSecrets(read, stack);
    const cfg = parseConfig(fromEngineConfig(withStandIns.config), stack, undefined, root);
    const cloud = Object.values(cfg.hosts).some((h) => h.kind === "cloud");
    const token = cloud && !read.secretKeys.includes("hcloud:token") ? ["hcloud:token"] : [];
    return { missing: [...token, ...standIns.map((n) => `berth:secrets.${n}`)], problems: [], versionUnset };
  } catch (err) {
    if (err instanceof ConfigError) return { missing: [], problems: err.problems, versionUnset };
    throw err;
  }
}

/**
 * A stack file without berth:version deploys the version the stack runs, its `version` output:
 * fine once the stack has deployed one, the first deploy must name it.
 */
async function versionCheck(io: Io, stack: string, created: boolean): Promise<Check> {
  const none = `Pulumi.${stack}.yaml names no berth:version, and the stack has not deployed one yet`;
  const fix = `name the first version to deploy: pulumi config set berth:version <tag or sha256:digest> --stack ${stack}`;
  if (!created) return { name: "Version", ok: false, detail: none, fix };
  const got = await pulumiQuiet(io, pulumiArgs.outputs(stack));
  let version: unknown;
  try {
    version = got?.code === 0 ? (JSON.parse(got.stdout) as { version?: unknown }).version : undefined;
  } catch {
    version = undefined;
  }
  if (typeof version === "string" && version !== "")
    return {
      name: "Version",
      ok: true,
      detail: `not in Pulumi.${stack}.yaml: the stack runs ${version}, which the next update keeps`,
    };
  const why = got && got.code !== 0 ? ` (pulumi stack output: ${got.stderr.trim().split("\n")[0]})` : "";
  return { name: "Version", ok: false, detail: `${none}${why}`, fix };
}

/**
 * The command that sets `key`: it asks for the value, except the fingerprint key, which nobody
 * needs to know (berth init draws it the same way).
 */
function setCommand(key: string, stack: string): string {
  const set = setSecretCommand(key, stack);
  return key === `berth:secrets.${FINGERPRINT_KEY}` ? `openssl rand -hex 32 | ${set}` : set;
}

/** Every check, in the order a first deploy needs them. */
export async function diagnose(io: Io, stack: string): Promise<Check[]> {
  const checks: Check[] = [];
  const root = io.cwd;

  const version = await pulumiQuiet(io, ["version"]);
  const cli = version && version.code === 0 ? version.stdout.trim() : undefined;
  checks.push(
    cli
      ? { name: "Pulumi CLI", ok: true, detail: `${pulumiBinary(io)} ${cli}` }
      : { name: "Pulumi CLI", ok: false, detail: "not found", fix: INSTALL_PULUMI },
  );

  const project = fs.existsSync(path.join(root, "Pulumi.yaml"))
    ? (parse(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as { backend?: { url?: string } })
    : undefined;
  const backend = io.env.PULUMI_BACKEND_URL ?? project?.backend?.url ?? "Pulumi Cloud";
  const stackFile = path.join(root, `Pulumi.${stack}.yaml`);
  const exists = fs.existsSync(stackFile);
  let created = false;
  if (cli) {
    const list = await pulumiQuiet(io, ["stack", "ls", "--json"]);
    let names: string[];
    try {
      names = list?.code === 0 ? (JSON.parse(list.stdout) as { name: string }[]).map((s) => s.name) : [];
    } catch {
      names = [];
    }
    checks.push(
      list?.code === 0
        ? { name: "Backend", ok: true, detail: backend }
        : {
            name: "Backend",
            ok: false,
            detail: `${backend}: ${list?.stderr.trim() || "not reachable"}`,
            fix: "pulumi login",
          },
    );
    created = names.includes(stack);
    checks.push(
      created
        ? { name: "Stack", ok: true, detail: `${stack} exists` }
        : { name: "Stack", ok: false, detail: `${stack} does not exist yet`, fix: `berth init ${stack}` },
    );
  }

  const salt = exists && /^encryptionsalt:/m.test(fs.readFileSync(stackFile, "utf8"));
  const passphrase = io.env.PULUMI_CONFIG_PASSPHRASE !== undefined || !!io.env.PULUMI_CONFIG_PASSPHRASE_FILE;
  // A stack berth init will create, or one created with passphrase secrets (it has a salt).
  if (salt || !created) {
    checks.push(
      passphrase
        ? { name: "Passphrase", ok: true, detail: "PULUMI_CONFIG_PASSPHRASE is set" }
        : {
            name: "Passphrase",
            ok: false,
            detail: "the stack's secrets are encrypted with a passphrase, and none is set",
            fix: "export PULUMI_CONFIG_PASSPHRASE='...' (or PULUMI_CONFIG_PASSPHRASE_FILE=path)",
          },
    );
  }

  if (!exists) {
    checks.push({
      name: "Stack file",
      ok: false,
      detail: `no Pulumi.${stack}.yaml in ${root}`,
      fix: `copy Pulumi.staging.yaml to Pulumi.${stack}.yaml and edit it, or berth import --stack ${stack}`,
    });
    return checks;
  }
  const { missing, problems, versionUnset } = missingCredentials(root, stack);
  checks.push(
    problems.length === 0
      ? { name: "Configuration", ok: true, detail: `Pulumi.${stack}.yaml is valid` }
      : { name: "Configuration", ok: false, detail: problems.join("\n    "), fix: `edit Pulumi.${stack}.yaml` },
  );
  if (versionUnset) checks.push(await versionCheck(io, stack, !!cli && created));
  const needed = missing.filter((k) => !(k === "hcloud:token" && io.env.HCLOUD_TOKEN));
  checks.push(
    needed.length === 0
      ? {
          name: "Secrets",
          ok: true,
          detail: problems.length ? "not checked (configuration invalid)" : "every secret the stack names is set",
        }
      : {
          name: "Secrets",
          ok: false,
          detail: `not set: ${needed.join(", ")}`,
          fix: `berth init ${stack} (asks for each${needed.includes(`berth:secrets.${FINGERPRINT_KEY}`) ? ` and generates ${FINGERPRINT_KEY}` : ""}), or ${needed.map((k) => setCommand(k, stack)).join("; ")}`,
        },
  );

  // The passphrase is right when Pulumi can decrypt a value with it.
  if (cli && salt && passphrase) {
    const config = ((parse(fs.readFileSync(stackFile, "utf8")) ?? {}) as { config?: Record<string, any> }).config ?? {};
    const isSecure = (v: unknown) => !!v && typeof v === "object" && "secure" in v;
    const named = Object.entries(config["berth:secrets"] ?? {}).find(([, v]) => isSecure(v))?.[0];
    const secretKey = isSecure(config["hcloud:token"]) ? ["hcloud:token"] : named ? [`berth:secrets.${named}`] : [];
    if (secretKey.length > 0) {
      const got = await pulumiQuiet(io, ["config", "get", secretKey[0], "--path", "--stack", stack]);
      if (got?.code !== 0)
        checks.push({
          name: "Passphrase",
          ok: false,
          detail: `Pulumi cannot decrypt ${secretKey[0]} with it: ${got?.stderr.trim().split("\n")[0] ?? ""}`,
          fix: "export the passphrase the stack was created with",
        });
    }
  }

  const sshSecret = /privateKeySecret:/.test(fs.readFileSync(stackFile, "utf8"));
  if (!sshSecret) {
    const agent = io.env.SSH_AUTH_SOCK
      ? await execute(io, "ssh-add", ["-l"], { capture: true }).catch(() => undefined)
      : undefined;
    checks.push(
      agent?.code === 0
        ? { name: "SSH", ok: true, detail: "ssh-agent holds a key" }
        : {
            name: "SSH",
            ok: false,
            detail: io.env.SSH_AUTH_SOCK ? "ssh-agent holds no key" : "no ssh-agent (SSH_AUTH_SOCK is not set)",
            fix: `ssh-add ~/.ssh/id_ed25519, or store a private key: ${setSecretCommand("berth:secrets.SSH_PRIVATE_KEY", stack)} and set berth:ssh.privateKeySecret`,
          },
    );
  } else checks.push({ name: "SSH", ok: true, detail: "berth:ssh.privateKeySecret names the key" });
  checks.push({
    name: "Token scope",
    ok: true,
    detail:
      "not checked: Hetzner shows a read-only token only when something changes; create the token with Read & Write in the Hetzner Console",
  });
  return checks;
}

export function report(checks: Check[]): string {
  return (
    checks
      .map((c) => `${c.ok ? "ok  " : "FAIL"} ${c.name}: ${c.detail}${c.fix ? `\n     fix: ${c.fix}` : ""}`)
      .join("\n") + "\n"
  );
}

/** Runs the doctor and stops with its report when anything a deploy needs is missing. */
export async function requireHealthy(io: Io, stack: string): Promise<void> {
  const checks = await diagnose(io, stack);
  const failed = checks.filter((c) => !c.ok);
  if (failed.length > 0) {
    io.err(report(checks));
    throw new CliError(
      `${failed.length} check${failed.length === 1 ? "" : "s"} failed for stack ${stack}; fix the above first.`,
    );
  }
}

export function registerDoctor(program: Command, io: Io): void {
  program
    .command("doctor")
    .description("Check what a deploy needs: Pulumi CLI, backend, stack, passphrase, secrets, a version, SSH key.")
    .option("-s, --stack <name>", "stack to check (default: BERTH_STACK)")
    .action(async (opts: { stack?: string }) => {
      const stack = opts.stack ?? io.env.BERTH_STACK;
      if (!stack) throw new CliError("doctor needs a stack: pass --stack NAME.");
      const checks = await diagnose(io, stack);
      io.out(report(checks));
      const failed = checks.filter((c) => !c.ok).length;
      if (failed > 0) throw new CliError(`${failed} check${failed === 1 ? "" : "s"} failed.`);
    });
}
