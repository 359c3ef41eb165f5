// Runs one job of a GitHub workflow on this machine, the way a runner would run its steps: each
// `run:` step through `bash -eo pipefail` with the workflow's, job's and step's env (expressions
// evaluated against a given context), GITHUB_ENV and GITHUB_OUTPUT carried to later steps, `if:`
// conditions honoured, and the job stopping at the first failed step. Actions (`uses:`) cannot run
// here: pulumi/actions runs the stand-in `pulumi` with the command it was given (what the action's
// Automation API does), every other action is only recorded. The stand-ins for `pulumi`, `gh` and
// `npm` come first on PATH.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { FIXTURES } from "./harness";

export interface Context {
  github: Record<string, unknown>;
  inputs?: Record<string, unknown>;
  matrix?: Record<string, unknown>;
  secrets?: Record<string, string>;
}

export interface StepRun {
  name: string;
  ran: boolean;
  code: number;
  output: string;
}

export interface JobRun {
  /** The runner's temporary directory (HOME is in it); the caller removes it. */
  dir: string;
  steps: StepRun[];
  /** The failed step, if one failed (the job stops there). */
  failed?: StepRun;
  home: string;
  env: Record<string, string>;
  /** Outputs of the steps that have an id. */
  outputs: Record<string, Record<string, string>>;
}

type Step = { name?: string; id?: string; if?: string; run?: string; uses?: string; with?: any; env?: any };

// ---- expressions: the subset of GitHub's expression syntax the workflows use ----

type Token = { kind: "op" | "str" | "num" | "id"; text: string };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  const re = /\s*(?:(\|\||&&|==|!=|!|\(|\)|,)|'((?:[^']|'')*)'|(-?\d+(?:\.\d+)?)|([A-Za-z_][\w.-]*))/y;
  let i = 0;
  while (i < src.length) {
    if (/^\s*$/.test(src.slice(i))) break;
    re.lastIndex = i;
    const m = re.exec(src);
    if (!m) throw new Error(`cannot read expression "${src}" at ${i}`);
    if (m[1]) out.push({ kind: "op", text: m[1] });
    else if (m[2] !== undefined) out.push({ kind: "str", text: m[2].replace(/''/g, "'") });
    else if (m[3]) out.push({ kind: "num", text: m[3] });
    else out.push({ kind: "id", text: m[4] });
    i = re.lastIndex;
  }
  return out;
}

const truthy = (v: unknown) => !(v === false || v === 0 || v === "" || v === null || v === undefined);

export function evaluate(src: string, scope: Record<string, unknown>): unknown {
  const tokens = tokenize(src);
  let pos = 0;
  const peek = () => tokens[pos]?.text;
  const take = (text?: string) => {
    const t = tokens[pos++];
    if (!t || (text !== undefined && t.text !== text)) throw new Error(`expected ${text} in "${src}"`);
    return t;
  };
  const lookup = (name: string): unknown => {
    const [root, ...rest] = name.split(".");
    if (!(root in scope)) throw new Error(`unknown context "${root}" in "${src}"`);
    let v: any = scope[root];
    for (const key of rest) v = v === null || v === undefined ? null : v[key];
    return v ?? null;
  };
  const primary = (): unknown => {
    const t = take();
    if (t.kind === "str") return t.text;
    if (t.kind === "num") return Number(t.text);
    if (t.text === "(") {
      const v = or();
      take(")");
      return v;
    }
    if (t.text === "!") return !truthy(primary());
    if (t.text === "true" || t.text === "false") return t.text === "true";
    if (t.text === "null") return null;
    if (peek() === "(") {
      take("(");
      const args: unknown[] = [];
      while (peek() !== ")") {
        args.push(or());
        if (peek() === ",") take(",");
      }
      take(")");
      if (t.text !== "format") throw new Error(`function ${t.text} is not supported here`);
      return String(args[0]).replace(/\{(\d+)\}/g, (_, n) => String(args[1 + Number(n)] ?? ""));
    }
    return lookup(t.text);
  };
  const comparison = (): unknown => {
    const left = primary();
    if (peek() === "==" || peek() === "!=") {
      const op = take().text;
      const right = primary();
      const same = String(left ?? "").toLowerCase() === String(right ?? "").toLowerCase();
      return op === "==" ? same : !same;
    }
    return left;
  };
  const chain = (op: string, next: () => unknown, pick: (left: unknown, right: unknown) => unknown) => () => {
    let v = next();
    while (peek() === op) {
      take();
      v = pick(v, next());
    }
    return v;
  };
  // GitHub's && and || return one of their operands, not a boolean.
  const and = chain("&&", comparison, (l, r) => (truthy(l) ? r : l));
  const or = chain("||", and, (l, r) => (truthy(l) ? l : r));
  const value = or();
  if (pos !== tokens.length) throw new Error(`unexpected "${peek()}" in "${src}"`);
  return value;
}

/** A string with its `${{ }}` expressions replaced by their values. */
export function interpolate(text: string, scope: Record<string, unknown>): string {
  return text.replace(/\$\{\{([\s\S]*?)\}\}/g, (_, expr) => String(evaluate(expr, scope) ?? ""));
}

const condition = (text: string | undefined, scope: Record<string, unknown>) =>
  text === undefined ? true : truthy(evaluate(text.replace(/^\s*\$\{\{([\s\S]*)\}\}\s*$/, "$1"), scope));

// ---- the runner ----

/** A directory with the stand-ins named as the real commands. */
export function standInBin(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const wrap = (name: string, body: string) => fs.writeFileSync(path.join(dir, name), body, { mode: 0o755 });
  wrap("pulumi", `#!/bin/sh\nexec "${process.execPath}" "${FIXTURES}/pulumi.cjs" "$@"\n`);
  wrap("gh", `#!/bin/sh\nexec "${process.execPath}" "${FIXTURES}/gh.cjs" "$@"\n`);
  wrap("npm", `#!/bin/sh\nexec "${process.execPath}" "${FIXTURES}/npm.cjs" "$@"\n`);
  return dir;
}

function readEnvFile(file: string): Record<string, string> {
  if (!fs.existsSync(file)) return {};
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

export function runJob(opts: {
  file: string;
  job: string;
  context: Context;
  workdir: string;
  bin: string;
  /** Variables of the machine (the stand-ins' state files), beside PATH and HOME. */
  env?: Record<string, string>;
  /** Outputs of the jobs this one needs. */
  needs?: Record<string, { outputs: Record<string, string> }>;
}): JobRun {
  const wf = parse(fs.readFileSync(opts.file, "utf8"));
  const job = wf.jobs[opts.job];
  if (!job?.steps) throw new Error(`${opts.file}: no job ${opts.job} with steps`);
  const temp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-runner-"));
  const home = path.join(temp, "home");
  fs.mkdirSync(home);
  const files = { env: path.join(temp, "env"), output: path.join(temp, "output"), summary: path.join(temp, "summary") };
  const github = opts.context.github as Record<string, any>;
  const steps: Record<string, { outputs: Record<string, string> }> = {};
  let exported: Record<string, string> = {};
  const base: Record<string, string> = {
    PATH: `${opts.bin}:${process.env.PATH}`,
    HOME: home,
    LANG: "C.UTF-8",
    CI: "true",
    GITHUB_ACTIONS: "true",
    GITHUB_REPOSITORY: github.repository,
    GITHUB_SHA: github.sha,
    GITHUB_REF: github.ref,
    GITHUB_RUN_ID: String(github.run_id),
    GITHUB_EVENT_NAME: github.event_name,
    GITHUB_SERVER_URL: github.server_url ?? "https://github.com",
    GITHUB_ENV: files.env,
    GITHUB_OUTPUT: files.output,
    GITHUB_STEP_SUMMARY: files.summary,
    RUNNER_TEMP: temp,
    ...opts.env,
  };
  const scope = (env: Record<string, string>) => ({
    github,
    inputs: opts.context.inputs ?? {},
    matrix: opts.context.matrix ?? {},
    secrets: { GITHUB_TOKEN: github.token, ...opts.context.secrets },
    steps,
    env,
    needs: opts.needs ?? {},
    job: {},
    runner: { temp },
  });
  const evalEnv = (block: Record<string, unknown> | undefined, env: Record<string, string>) =>
    Object.fromEntries(Object.entries(block ?? {}).map(([k, v]) => [k, interpolate(String(v), scope(env))]));

  let env = { ...evalEnv(wf.env, {}) };
  env = { ...env, ...evalEnv(job.env, env) };
  const run: JobRun = { dir: temp, steps: [], home, env: {}, outputs: {} };
  try {
    for (const [i, step] of (job.steps as Step[]).entries()) {
      const name = step.name ?? step.run?.split("\n")[0] ?? step.uses ?? `step ${i}`;
      const stepEnv = { ...env, ...exported, ...evalEnv(step.env, { ...env, ...exported }) };
      if (!condition(step.if, scope({ ...env, ...exported }))) {
        run.steps.push({ name, ran: false, code: 0, output: "" });
        continue;
      }
      fs.writeFileSync(files.output, "");
      let result: { status: number | null; stdout: string; stderr: string };
      const procEnv = { ...base, ...stepEnv };
      if (step.run !== undefined) {
        const script = path.join(temp, `step-${i}.sh`);
        fs.writeFileSync(script, interpolate(step.run, scope(stepEnv)));
        result = spawnSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", script], {
          cwd: opts.workdir,
          env: procEnv,
          encoding: "utf8",
          timeout: 120_000,
        });
      } else {
        const w = evalEnv(step.with, stepEnv);
        if (step.uses?.startsWith("pulumi/actions@") && w.command) {
          const args = [w.command, "--stack", w["stack-name"]];
          if (w.message) args.push("--message", w.message);
          result = spawnSync("pulumi", args, { cwd: opts.workdir, env: procEnv, encoding: "utf8" });
        } else result = { status: 0, stdout: "", stderr: "" };
      }
      const out = { name, ran: true, code: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
      run.steps.push(out);
      if (step.id) steps[step.id] = { outputs: readEnvFile(files.output) };
      exported = readEnvFile(files.env);
      if (out.code !== 0) {
        run.failed = out;
        break;
      }
    }
  } finally {
    run.env = exported;
    run.outputs = Object.fromEntries(Object.entries(steps).map(([id, s]) => [id, s.outputs]));
    // An ssh-agent a step started ends with the job, as the runner's machine would.
    if (exported.SSH_AGENT_PID) {
      try {
        process.kill(Number(exported.SSH_AGENT_PID));
      } catch {
        // already gone
      }
    }
  }
  return run;
}
