// Longer than 400 lines: the workflows read as files and then run against the same stand-ins; each workflow's cases stay beside the ones of the others they hand work to.
// The GitHub workflows, two ways. Parsed as YAML: triggers, permissions, concurrency, where each
// secret appears, action versions, and every shell step through shellcheck. Run: each job's steps
// on this machine (test/support/workflow-runner.ts) against stand-ins for `pulumi`, `gh` and
// `npm`, which shows what the steps decide (shared state or not, superseded or not, which pull
// request to comment on) and which step could see which credential. What only GitHub can show (its
// concurrency queue, environments, the actions themselves) is asserted on the parsed files.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { parse } from "yaml";
import { lint, workflowFiles } from "../../guard/actionlint";
import { ROOT } from "../support/harness";
import { Context, JobRun, runJob, standInBin } from "../support/workflow-runner";

const DIR = path.join(ROOT, ".github", "workflows");
const load = (name: string) => parse(fs.readFileSync(path.join(DIR, name), "utf8"));
const STACKS = fs
  .readdirSync(ROOT)
  .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
  .filter((s): s is string => !!s)
  .sort();

type Step = { name?: string; id?: string; if?: string; uses?: string; run?: string; with?: any; env?: any };
type Job = { steps?: Step[]; env?: any; permissions?: any; uses?: string; with?: any; secrets?: any; [k: string]: any };
const steps = (job: Job) => job.steps ?? [];
const using = (job: Job, action: string) => steps(job).filter((s) => s.uses?.startsWith(`${action}@`));
const stepNamed = (job: Job, name: RegExp) => {
  const i = steps(job).findIndex((s) => name.test(s.name ?? s.run ?? ""));
  assert.ok(i >= 0, `no step ${name}`);
  return i;
};
const FILES = fs.readdirSync(DIR).filter((f) => f.endsWith(".yml"));
const ALL = FILES.map((f) => [f, load(f)] as const);
const jobsOf = (wf: any) => Object.entries<Job>(wf.jobs);

// The current major of every action the workflows use, each on the Node 24 runtime
// (`runs.using: node24` in the action.yml of that major, read in each action's repository; the
// Node 20 majors before them go away with GitHub's Node 20 runners).
const CURRENT: Record<string, string> = {
  "actions/checkout": "v7",
  "actions/setup-node": "v7",
  "actions/upload-artifact": "v7",
  "actions/download-artifact": "v8",
  "pulumi/actions": "v7",
  "docker/setup-buildx-action": "v4",
  "docker/login-action": "v4",
  "docker/metadata-action": "v6",
  "docker/build-push-action": "v7",
};

describe("workflows as files", () => {
  it("are the expected set, and actionlint finds nothing in any of them", async () => {
    assert.deepEqual(FILES.sort(), [
      "app.yml",
      "deploy-stack.yml",
      "deploy.yml",
      "plan-comment.yml",
      "preview.yml",
      "rollback.yml",
      "test.yml",
    ]);
    const files = workflowFiles();
    assert.deepEqual(files, [...FILES.map((f) => `.github/workflows/${f}`), "docs/examples/app-deploy.yml"].sort());
    for (const f of files) assert.deepEqual(await lint(f, fs.readFileSync(path.join(ROOT, f), "utf8")), [], f);
  });

  it("actionlint is live: it reports a broken workflow", async () => {
    const broken = [
      "on: push",
      "permissions: { contents: reed }",
      "jobs:",
      "  a:",
      "    runs-on: ubuntu-latest",
      "    steps:",
      "      - uses: actions/checkout@v4",
      "        with: { fetch_depth: 0 }",
      "      - run: echo ${{ github.event.pull_request.title }}",
    ].join("\n");
    const found = await lint("broken.yml", broken);
    assert.ok(
      found.some((p) => /"reed" is invalid for permission/.test(p)),
      found.join("\n"),
    );
    assert.ok(found.some((p) => /input "fetch_depth" is not defined/.test(p)));
    assert.ok(found.some((p) => /potentially untrusted/.test(p)));
  });

  it("use the current major of every action, on Node 24, and Node 22 or later for berth", () => {
    for (const [f, wf] of [
      ...ALL,
      ["app-deploy.yml", parse(fs.readFileSync(`${ROOT}/docs/examples/app-deploy.yml`, "utf8"))] as const,
    ])
      for (const [id, job] of jobsOf(wf)) {
        if (job.uses)
          assert.match(
            job.uses,
            /^(\.\/\.github\/workflows\/[\w-]+\.yml|[\w-]+\/[\w-]+\/\.github\/workflows\/app\.yml@main)$/,
          );
        for (const s of steps(job).filter((s) => s.uses)) {
          const [action, version] = s.uses!.split("@");
          assert.equal(version, CURRENT[action], `${f} ${id}: ${s.uses}`);
          if (action === "actions/setup-node") assert.ok(Number(s.with["node-version"]) >= 22, `${f} ${id}`);
        }
      }
  });

  it("grant no permission at the top and the least each job needs", () => {
    for (const [f, wf] of ALL) assert.deepEqual(wf.permissions, {}, f);
    const granted = Object.fromEntries(
      ALL.flatMap(([f, wf]) => jobsOf(wf).map(([id, job]) => [`${f} ${id}`, job.permissions])),
    );
    assert.deepEqual(granted, {
      "app.yml image": { contents: "read", packages: "write" },
      "app.yml deploy": { contents: "read" },
      "deploy-stack.yml up": { contents: "read", actions: "read" },
      "deploy.yml test": { contents: "read" },
      "deploy.yml staging": { contents: "read", actions: "read" },
      "deploy.yml production": { contents: "read", actions: "read" },
      "plan-comment.yml comment": { actions: "read", "pull-requests": "write" },
      "preview.yml preview": { contents: "read", "pull-requests": "write" },
      "preview.yml fork-plan": { contents: "read" },
      "rollback.yml test": { contents: "read" },
      "rollback.yml rollback": { contents: "read", actions: "read" },
      "test.yml test": { contents: "read" },
    });
    for (const [f, wf] of ALL)
      for (const [id, job] of jobsOf(wf))
        for (const c of using(job, "actions/checkout"))
          assert.equal(c.with?.["persist-credentials"], false, `${f} ${id}: the token stays out of .git/config`);
  });

  it("run steps pass shellcheck and take every value through env, never a ${{ }} in the script", () => {
    for (const [f, wf] of ALL)
      for (const [, job] of jobsOf(wf))
        for (const s of steps(job).filter((s) => s.run)) {
          assert.doesNotMatch(s.run!, /\$\{\{/, `${f}: ${s.run}`);
          const script = `#!/usr/bin/env bash\nset -eo pipefail\n${s.run}`;
          const r = spawnSync("shellcheck", ["-s", "bash", "-"], { input: script, encoding: "utf8" });
          assert.equal(r.error, undefined, "shellcheck is not installed; run: apt-get install -y shellcheck");
          assert.equal(r.status, 0, `${f}:\n${s.run}\n${r.stdout}`);
        }
  });
});

describe("shared state, from the files", () => {
  it("Pulumi.yaml keeps the local backend for one person; no workflow names another backend", () => {
    assert.equal(parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")).backend.url, "file://~");
    for (const [f, wf] of ALL) {
      const envs = [wf.env, ...jobsOf(wf).flatMap(([, j]) => [j.env, ...steps(j).map((s) => s.env)])];
      assert.ok(!envs.some((e) => e && "PULUMI_BACKEND_URL" in e), `${f}: the backend comes from Pulumi.yaml`);
      for (const [, job] of jobsOf(wf))
        for (const s of using(job, "pulumi/actions")) assert.equal(s.with?.["cloud-url"], undefined, f);
    }
  });

  it("every job that reads state checks the backend first, with the same script, before npm ci", () => {
    const checks = [
      ["preview.yml", "preview"],
      ["deploy-stack.yml", "up"],
    ].map(([f, id]) => {
      const job = load(f).jobs[id];
      const check = stepNamed(job, /state is shared/);
      const firstPulumi = steps(job).findIndex((s) => /pulumi /.test(s.run ?? "") || !!s.with?.command);
      assert.equal(firstPulumi, check, `${f}: the backend check is the first step that runs pulumi`);
      assert.ok(check < stepNamed(job, /^npm ci$/), `${f}: it fails before npm ci`);
      return steps(job)[check].run;
    });
    assert.equal(checks[0], checks[1]);
  });
});

describe("secret scope, from the files", () => {
  const secretsIn = (v: unknown) => [...JSON.stringify(v ?? {}).matchAll(/secrets\.([\w-]+)/g)].map((m) => m[1]);

  it("no workflow or job puts a secret in env, and reusable calls pass named secrets, never all", () => {
    for (const [f, wf] of ALL) {
      assert.deepEqual(secretsIn(wf.env), [], f);
      for (const [id, job] of jobsOf(wf)) {
        assert.deepEqual(secretsIn(job.env), [], `${f} ${id}`);
        assert.notEqual(job.secrets, "inherit", `${f} ${id}`);
      }
    }
  });

  it("previews read state with read-only keys; only deploys get the keys that write", () => {
    const preview = load("preview.yml").jobs.preview;
    const used = new Set(steps(preview).flatMap((s) => secretsIn(s)));
    assert.ok(used.has("STATE_READ_ACCESS_KEY_ID") && used.has("STATE_READ_SECRET_ACCESS_KEY"));
    assert.ok(!used.has("STATE_ACCESS_KEY_ID") && !used.has("STATE_SECRET_ACCESS_KEY"));
    assert.deepEqual(secretsIn(load("preview.yml").jobs["fork-plan"]), []);
  });

  it("the passphrase reaches only pulumi preview, up and rollback; the SSH key only its agent, after npm ci", () => {
    for (const [f, id] of [
      ["preview.yml", "preview"],
      ["deploy-stack.yml", "up"],
    ]) {
      const job = load(f).jobs[id];
      const withSecret = (name: string) =>
        steps(job)
          .filter((s) => secretsIn(s).includes(name))
          .map((s) => s.name);
      assert.deepEqual(
        withSecret("PULUMI_CONFIG_PASSPHRASE"),
        f === "preview.yml" ? ["Preview"] : ["Deploy", "Roll back"],
        f,
      );
      assert.deepEqual(withSecret("SSH_PRIVATE_KEY"), ["Load the SSH key for the docker provider"], f);
      assert.ok(
        stepNamed(job, /Load the SSH key/) > stepNamed(job, /^npm ci$/),
        `${f}: install scripts never see the agent`,
      );
      for (const s of steps(job).filter((s) => /GITHUB_ENV/.test(s.run ?? "")))
        assert.deepEqual(
          [...s.run!.matchAll(/echo "(\w+)=/g)].map((m) => m[1]),
          ["SSH_AUTH_SOCK", "SSH_AGENT_PID"],
        );
    }
  });
});

describe("deploy order and test gate, from the files", () => {
  it("deploy.yml: test, then staging, then production, one run at a time in request order", () => {
    const wf = load("deploy.yml");
    assert.deepEqual(wf.on.push.branches, ["main"]);
    assert.deepEqual(Object.keys(wf.on.workflow_dispatch.inputs).sort(), ["image", "source", "version"]);
    assert.deepEqual(wf.concurrency, { group: "berth-deploy", "cancel-in-progress": false });
    assert.equal(wf.jobs.test.uses, "./.github/workflows/test.yml");
    assert.equal(wf.jobs.staging.needs, "test");
    assert.equal(wf.jobs.production.needs, "staging");
    for (const stack of ["staging", "production"]) {
      const job = wf.jobs[stack];
      assert.equal(job.uses, "./.github/workflows/deploy-stack.yml");
      assert.deepEqual(job.with, {
        stack,
        version: "${{ inputs.version }}",
        image: "${{ inputs.image }}",
        source: "${{ inputs.source }}",
      });
      assert.deepEqual(Object.keys(job.secrets).sort(), [
        "PULUMI_ACCESS_TOKEN",
        "PULUMI_CONFIG_PASSPHRASE",
        "SSH_PRIVATE_KEY",
        "STATE_ACCESS_KEY_ID",
        "STATE_SECRET_ACCESS_KEY",
      ]);
    }
  });

  it("deploy-stack.yml: one deploy per stack, never cancelled, in the stack's environment", () => {
    const job = load("deploy-stack.yml").jobs.up;
    assert.deepEqual(job.concurrency, { group: "berth-deploy-${{ inputs.stack }}", "cancel-in-progress": false });
    assert.equal(job.environment, "${{ inputs.stack }}");
    const check = stepNamed(job, /newer request/);
    for (const later of [/Load the SSH key/, /Set berth:version/, /^Deploy$/, /^Roll back$/]) {
      const i = stepNamed(job, later);
      assert.ok(i > check, `${later} comes after the check`);
      assert.match(steps(job)[i].if!, /^steps\.current\.outputs\.deploy == 'true'/, `${later} depends on it`);
    }
    const up = steps(job)[stepNamed(job, /^Deploy$/)];
    assert.equal(up.uses, "pulumi/actions@v7");
    assert.equal(up.with.command, "up");
  });

  it("rollback.yml: a version by hand, through berth rollback, in the same lane after the tests", () => {
    const wf = load("rollback.yml");
    assert.deepEqual([...wf.on.workflow_dispatch.inputs.stack.options].sort(), STACKS);
    assert.equal(wf.on.workflow_dispatch.inputs.to.required, true);
    assert.equal(wf.jobs.rollback.needs, "test");
    assert.equal(wf.jobs.rollback.uses, "./.github/workflows/deploy-stack.yml");
    assert.deepEqual(wf.jobs.rollback.with, { stack: "${{ inputs.stack }}", "rollback-to": "${{ inputs.to }}" });
  });

  it("the gate runs the README's test command: test.yml runs .ci/run, which runs npm test", () => {
    const job = load("test.yml").jobs.test;
    assert.ok(steps(job).some((s) => /bash \.ci\/run$/.test(s.run ?? "")));
    assert.deepEqual(Object.keys(load("test.yml").on).sort(), ["pull_request", "workflow_call"]);
    // The README's first screen: the set-up command, then the test command, each with its comment.
    const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
    const firstScreen = /```sh\n([\s\S]*?)```/.exec(readme)![1].trim().split("\n");
    const tests = firstScreen.filter((l) => /#.*\btest/.test(l)).map((l) => l.replace(/\s+#.*$/, "").trim());
    assert.equal(tests.length, 1, `one test command on the README's first screen:\n${firstScreen.join("\n")}`);
    // .ci/run ends with exactly that command, after npm ci.
    const ci = fs
      .readFileSync(path.join(ROOT, ".ci", "run"), "utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#") && !/^(set|cd) /.test(l));
    assert.deepEqual(ci, ["npm ci --no-audit --no-fund", tests[0]]);
  });

  it("preview.yml: every stack on same-repository pull requests, no berth:version set on the runner", () => {
    const wf = load("preview.yml");
    const job = wf.jobs.preview;
    assert.equal(job.if, "github.event.pull_request.head.repo.full_name == github.repository");
    assert.deepEqual([...job.strategy.matrix.stack].sort(), STACKS);
    const preview = using(job, "pulumi/actions").find((s) => s.with?.command === "preview")!;
    assert.equal(preview.with["stack-name"], "${{ matrix.stack }}");
    assert.equal(preview.with["comment-on-pr"], true);
    assert.doesNotMatch(JSON.stringify(job), /config set/, "a pull request that sets a version is previewed with it");
    const fork = wf.jobs["fork-plan"];
    assert.equal(fork.if, "github.event.pull_request.head.repo.full_name != github.repository");
    assert.match(
      steps(fork).find((s) => s.run?.includes("berth plan"))!.run!,
      /berth plan --stack "\$STACK" --diff "\$BASE_SHA"/,
    );
    assert.equal(using(fork, "actions/checkout")[0].with["fetch-depth"], 0, "the base revision is needed for --diff");
  });

  it("plan-comment.yml: only after a successful fork run, and never runs the fork's code", () => {
    const wf = load("plan-comment.yml");
    assert.deepEqual(wf.on.workflow_run.workflows, [load("preview.yml").name]);
    const job = wf.jobs.comment;
    assert.match(job.if, /workflow_run\.conclusion == 'success'/);
    assert.match(job.if, /head_repository\.full_name != github\.repository/);
    assert.equal(using(job, "actions/checkout").length, 0);
    assert.equal(using(job, "actions/setup-node").length, 0);
  });

  it("app.yml: runs in the app's repository, so nothing by a ./ path, and pushes what it requests", () => {
    const wf = load("app.yml");
    assert.deepEqual(Object.keys(wf.on), ["workflow_call"]);
    assert.doesNotMatch(fs.readFileSync(path.join(DIR, "app.yml"), "utf8"), /uses: \.\//);
    assert.deepEqual(Object.keys(wf.on.workflow_call.secrets).sort(), ["deploy-token", "registry-password"]);
    const build = using(wf.jobs.image, "docker/build-push-action")[0] as Step;
    assert.equal(build.with.push, true);
    assert.equal(wf.jobs.image.outputs.digest, `\${{ steps.${build.id}.outputs.digest }}`);
    const request = wf.jobs.deploy;
    assert.deepEqual(request.concurrency, { group: "berth-request-${{ github.ref }}", "cancel-in-progress": false });
    const dispatch = steps(request)[stepNamed(request, /Ask the deploy repository/)];
    assert.equal(dispatch.env.DIGEST, "${{ needs.image.outputs.digest }}");
    assert.equal(dispatch.env.GH_TOKEN, "${{ secrets.deploy-token }}");
    const example = parse(fs.readFileSync(path.join(ROOT, "docs", "examples", "app-deploy.yml"), "utf8"));
    assert.match(example.jobs.deploy.uses, /\/\.github\/workflows\/app\.yml@main$/);
    assert.deepEqual(example.jobs.deploy.permissions, { contents: "read", packages: "write" });
  });
});

// ---- the jobs, run ----

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-workflows-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const bin = standInBin(path.join(tmp, "bin"));
const hash = (v: string) => crypto.createHash("sha256").update(v).digest("hex").slice(0, 8);

const SECRETS = {
  PULUMI_CONFIG_PASSPHRASE: "test passphrase",
  STATE_READ_ACCESS_KEY_ID: "read-only-key-id",
  STATE_READ_SECRET_ACCESS_KEY: "read-only-secret",
  STATE_ACCESS_KEY_ID: "read-write-key-id",
  STATE_SECRET_ACCESS_KEY: "read-write-secret",
  SSH_PRIVATE_KEY: "",
  GITHUB_TOKEN: "github-token",
};
const WATCHED = [
  "PULUMI_CONFIG_PASSPHRASE",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "SSH_PRIVATE_KEY",
  "SSH_AUTH_SOCK",
  "GH_TOKEN",
];
const KNOWN_HOSTS =
  "203.0.113.10 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfWeb1\n[198.51.100.7]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfDb1";
const DIGEST = `sha256:${"ab".repeat(32)}`;
const SHA = "1111111111111111111111111111111111111111";
const NEWER = "2222222222222222222222222222222222222222";

// A real SSH key for the agent the jobs start.
const key = path.join(tmp, "id_ed25519");
spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
SECRETS.SSH_PRIVATE_KEY = fs.readFileSync(key, "utf8");

let cases = 0;
interface Machine {
  workdir: string;
  state: string;
  gh: string;
  log: string;
  env: Record<string, string>;
}

/** A checkout of this repository (links to it, but its own Pulumi.yaml) and the stand-ins' state. */
function machine(opts: {
  backend?: string;
  outputs?: Record<string, unknown>;
  config?: Record<string, string>;
  history?: unknown[];
  api?: Record<string, unknown>;
  env?: Record<string, string>;
}): Machine {
  const dir = path.join(tmp, `case-${++cases}`);
  const workdir = path.join(dir, "repo");
  fs.mkdirSync(workdir, { recursive: true });
  for (const entry of fs.readdirSync(ROOT))
    if (![".git", "Pulumi.yaml"].includes(entry)) fs.symlinkSync(path.join(ROOT, entry), path.join(workdir, entry));
  const project = fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8");
  fs.writeFileSync(
    path.join(workdir, "Pulumi.yaml"),
    opts.backend ? project.replace("url: file://~", `url: ${opts.backend}`) : project,
  );
  const state = path.join(dir, "pulumi.json");
  const gh = path.join(dir, "gh.json");
  const log = path.join(dir, "commands.log");
  fs.writeFileSync(
    state,
    JSON.stringify({
      stack: "staging",
      outputs: opts.outputs ?? { version: "2026.11.4", knownHosts: KNOWN_HOSTS, hosts: { "web-1": {} } },
      config: { "berth:image": "ghcr.io/acme/myapp", ...opts.config },
      history: opts.history ?? [],
    }),
  );
  fs.writeFileSync(gh, JSON.stringify({ api: opts.api ?? {} }));
  return {
    workdir,
    state,
    gh,
    log,
    env: {
      BERTH_FAKE_STATE: state,
      BERTH_FAKE_GH: gh,
      BERTH_FAKE_LOG: log,
      BERTH_FAKE_ENV: WATCHED.join(","),
      ...opts.env,
    },
  };
}

const commands = (m: Machine): { args: string[]; env: Record<string, string> }[] =>
  fs.existsSync(m.log)
    ? fs
        .readFileSync(m.log, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l))
    : [];
const ghState = (m: Machine) => JSON.parse(fs.readFileSync(m.gh, "utf8"));
const pulumiState = (m: Machine) => JSON.parse(fs.readFileSync(m.state, "utf8"));

function run(m: Machine, file: string, job: string, context: Context): JobRun {
  const r = runJob({ file: path.join(DIR, file), job, context, workdir: m.workdir, bin, env: m.env });
  after(() => fs.rmSync(r.dir, { recursive: true, force: true }));
  return r;
}
const ran = (r: JobRun) => r.steps.filter((s) => s.ran).map((s) => s.name);

const previewContext = (): Context => ({
  github: {
    repository: "acme/deploy",
    sha: SHA,
    ref: "refs/pull/7/merge",
    run_id: 500,
    event_name: "pull_request",
    token: SECRETS.GITHUB_TOKEN,
    event: { pull_request: { number: 7, head: { repo: { full_name: "acme/deploy" } } } },
  },
  matrix: { stack: "staging" },
  secrets: SECRETS,
});

function deployContext(event: "push" | "workflow_dispatch", inputs: Record<string, string> = {}): Context {
  return {
    github: {
      repository: "acme/deploy",
      sha: SHA,
      ref: "refs/heads/main",
      run_id: 1001,
      event_name: event,
      token: SECRETS.GITHUB_TOKEN,
    },
    inputs: { stack: "staging", version: "", image: "", source: "", "rollback-to": "", ...inputs },
    secrets: SECRETS,
  };
}

const HEAD = "repos/acme/deploy/commits/refs/heads/main";
const NEWEST = "repos/acme/deploy/actions/workflows/deploy.yml/runs?event=workflow_dispatch&per_page=1";

describe("the state check, run", () => {
  for (const [file, job, context] of [
    ["preview.yml", "preview", previewContext],
    ["deploy-stack.yml", "up", () => deployContext("push")],
  ] as const) {
    it(`${file}: fails fast on file://, naming the fix, and goes on with an s3:// backend`, () => {
      const local = machine({ api: { [HEAD]: { sha: SHA } } });
      const failed = run(local, file, job, context());
      assert.equal(failed.failed?.name, "Check that the state is shared, and trust the hosts the stack recorded");
      assert.match(
        failed.failed!.output,
        /::error title=State is not shared::Pulumi would keep the state in file:\/\/~/,
      );
      assert.match(failed.failed!.output, /backend\.url in Pulumi\.yaml/);
      assert.deepEqual(
        commands(local).map((c) => c.args),
        [["whoami", "--json"]],
        "nothing ran after the check: no npm ci, no preview",
      );

      const shared = machine({
        backend: "s3://berth-state?endpoint=fsn1.your-objectstorage.com&region=fsn1",
        api: { [HEAD]: { sha: SHA } },
      });
      const passed = run(shared, file, job, context());
      assert.equal(passed.failed, undefined, passed.failed?.output);
      assert.match(passed.steps[2].output, /State backend: s3:\/\/berth-state/);
      assert.equal(fs.readFileSync(path.join(passed.home, ".ssh", "known_hosts"), "utf8"), `${KNOWN_HOSTS}\n`);
      assert.equal((fs.statSync(path.join(passed.home, ".ssh", "known_hosts")).mode & 0o777).toString(8), "600");
    });
  }

  it("PULUMI_BACKEND_URL overrides Pulumi.yaml, as in Pulumi", () => {
    const m = machine({ env: { PULUMI_BACKEND_URL: "s3://other" }, api: { [HEAD]: { sha: SHA } } });
    const r = run(m, "deploy-stack.yml", "up", deployContext("push"));
    assert.equal(r.failed, undefined, r.failed?.output);
    assert.match(r.steps[2].output, /State backend: s3:\/\/other/);
  });

  it("refuses to trust the hosts of a stack that records none of their keys; a new stack has none yet", () => {
    const s3 = "s3://berth-state";
    const unknown = run(
      machine({ backend: s3, outputs: { version: "1", hosts: { "web-1": {} } } }),
      "preview.yml",
      "preview",
      previewContext(),
    );
    assert.match(
      unknown.failed!.output,
      /::error title=Host keys unknown::Stack staging has hosts but no knownHosts output/,
    );
    const fresh = run(machine({ backend: s3, outputs: {} }), "preview.yml", "preview", previewContext());
    assert.equal(fresh.failed, undefined, fresh.failed?.output);
    assert.equal(fs.readFileSync(path.join(fresh.home, ".ssh", "known_hosts"), "utf8"), "");
  });
});

describe("secret scope, run", () => {
  it("a preview: npm ci sees no credential; read-only keys for state; the passphrase for the preview only", () => {
    const m = machine({ backend: "s3://berth-state" });
    const r = run(m, "preview.yml", "preview", previewContext());
    assert.equal(r.failed, undefined, r.failed?.output);
    const seen = Object.fromEntries(commands(m).map((c) => [c.args.slice(0, 2).join(" "), c.env]));
    const read = {
      AWS_ACCESS_KEY_ID: hash(SECRETS.STATE_READ_ACCESS_KEY_ID),
      AWS_SECRET_ACCESS_KEY: hash(SECRETS.STATE_READ_SECRET_ACCESS_KEY),
    };
    assert.deepEqual(seen["npm ci"], {}, "dependency install scripts see no secret and no SSH agent");
    assert.deepEqual(seen["whoami --json"], read);
    assert.deepEqual(Object.keys(seen["preview --stack"]).sort(), [
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
      "PULUMI_CONFIG_PASSPHRASE",
      "SSH_AUTH_SOCK",
    ]);
    assert.equal(seen["preview --stack"].AWS_ACCESS_KEY_ID, read.AWS_ACCESS_KEY_ID);
    assert.equal(pulumiState(m).config["berth:version"], undefined, "the preview sets no version");
  });
});

describe("deploys, run", () => {
  const s3 = "s3://berth-state";

  it("a push that is still the branch head deploys at the version the stack runs", () => {
    const m = machine({ backend: s3, api: { [HEAD]: { sha: SHA } } });
    const r = run(m, "deploy-stack.yml", "up", deployContext("push"));
    assert.equal(r.failed, undefined, r.failed?.output);
    const up = commands(m).find((c) => c.args[0] === "up")!;
    assert.deepEqual(up.args, ["up", "--stack", "staging", "--message", `deploy ${SHA}`]);
    assert.equal(up.env.AWS_ACCESS_KEY_ID, hash(SECRETS.STATE_ACCESS_KEY_ID), "deploys write with the read-write key");
    assert.ok(up.env.PULUMI_CONFIG_PASSPHRASE && up.env.SSH_AUTH_SOCK);
    assert.equal(pulumiState(m).config["berth:version"], undefined);
    assert.equal(pulumiState(m).outputs.version, "2026.11.4", "the deployed version stays");
  });

  it("a push whose commit is no longer the branch head does not deploy", () => {
    const m = machine({ backend: s3, api: { [HEAD]: { sha: NEWER } } });
    const r = run(m, "deploy-stack.yml", "up", deployContext("push"));
    assert.equal(r.failed, undefined);
    assert.match(
      r.steps.find((s) => /newer request/.test(s.name))!.output,
      /::notice title=Superseded::refs\/heads\/main moved on to 2222/,
    );
    assert.ok(!commands(m).some((c) => c.args[0] === "up"));
    assert.ok(!ran(r).includes("Load the SSH key for the docker provider"), "no key is loaded for nothing");
  });

  it("the newest request from the app deploys its digest; an older one does not", () => {
    const inputs = { version: DIGEST, image: "ghcr.io/acme/myapp", source: `acme/myapp@${SHA}` };
    const newest = machine({ backend: s3, api: { [NEWEST]: { workflow_runs: [{ id: 1001 }] } } });
    const r = run(newest, "deploy-stack.yml", "up", deployContext("workflow_dispatch", inputs));
    assert.equal(r.failed, undefined, r.failed?.output);
    assert.deepEqual(
      commands(newest)
        .map((c) => c.args)
        .filter((a) => ["config", "up"].includes(a[0])),
      [
        ["config", "--json", "--stack", "staging"],
        ["config", "set", "berth:version", DIGEST, "--stack", "staging"],
        ["up", "--stack", "staging", "--message", `deploy acme/myapp@${SHA} (${DIGEST})`],
      ],
    );
    assert.equal(pulumiState(newest).outputs.version, DIGEST);

    const older = machine({ backend: s3, api: { [NEWEST]: { workflow_runs: [{ id: 1002 }] } } });
    const skipped = run(older, "deploy-stack.yml", "up", deployContext("workflow_dispatch", inputs));
    assert.equal(skipped.failed, undefined);
    assert.ok(!commands(older).some((c) => c.args[0] === "up" || c.args[1] === "set"));
    assert.equal(pulumiState(older).outputs.version, "2026.11.4");
  });

  it("refuses a digest for another image, a tag instead of a digest, and a stack file that pins a version", () => {
    const api = { [NEWEST]: { workflow_runs: [{ id: 1001 }] } };
    const attempt = (inputs: Record<string, string>, config?: Record<string, string>) => {
      const m = machine({ backend: s3, api, config });
      const r = run(m, "deploy-stack.yml", "up", deployContext("workflow_dispatch", inputs));
      assert.ok(!commands(m).some((c) => c.args[0] === "up"), "nothing deployed");
      return r.failed?.output ?? "";
    };
    assert.match(
      attempt({ version: DIGEST, image: "ghcr.io/acme/other" }),
      /the build pushed ghcr\.io\/acme\/other, but Pulumi\.staging\.yaml deploys berth:image ghcr\.io\/acme\/myapp/,
    );
    assert.match(attempt({ version: "latest", image: "ghcr.io/acme/myapp" }), /::error title=Not a digest::/);
    assert.match(
      attempt({ version: DIGEST, image: "ghcr.io/acme/myapp" }, { "berth:version": "2026.11.1" }),
      /Pulumi\.staging\.yaml names berth:version 2026\.11\.1, which holds the stack there.*pulumi config rm berth:version -s staging/,
    );
  });

  it("a rollback runs berth rollback to the version asked for", () => {
    const update = (version: number, berthVersion: string) => ({
      version,
      kind: "update",
      result: "succeeded",
      startTime: `2026-11-1${version}T10:00:00Z`,
      message: "",
      config: { "berth:version": { value: berthVersion, secret: false } },
    });
    const m = machine({ backend: s3, history: [update(1, "2026.11.1"), update(2, "2026.11.4")] });
    const r = run(m, "deploy-stack.yml", "up", deployContext("workflow_dispatch", { "rollback-to": "2026.11.1" }));
    assert.equal(r.failed, undefined, r.failed?.output);
    const up = commands(m).find((c) => c.args[0] === "up")!;
    assert.deepEqual(up.args.slice(-2), ["--message", "berth rollback to 2026.11.1 (update #1)"]);
    assert.ok(up.env.PULUMI_CONFIG_PASSPHRASE);
    assert.equal(pulumiState(m).outputs.version, "2026.11.1");
    assert.equal(pulumiState(m).config["berth:version"], undefined, "the state, not the stack file, keeps it");
  });
});

describe("fork plan comments, run", () => {
  const context = (): Context => ({
    github: {
      repository: "acme/deploy",
      sha: SHA,
      ref: "refs/heads/main",
      run_id: 900,
      event_name: "workflow_run",
      token: SECRETS.GITHUB_TOKEN,
      server_url: "https://github.com",
      event: { workflow_run: { id: 77, head_sha: NEWER, head_repository: { full_name: "mallory/deploy" } } },
    },
    matrix: { stack: "staging" },
    secrets: SECRETS,
  });
  const ARTIFACTS = "repos/acme/deploy/actions/runs/77/artifacts";

  function fork(opts: { plan: string; number?: string; pr?: unknown; size?: number }) {
    const m = machine({
      api: {
        [ARTIFACTS]: { artifacts: [{ name: "berth-plan-staging", size_in_bytes: opts.size ?? opts.plan.length }] },
        "repos/acme/deploy/pulls/12": opts.pr ?? {
          state: "open",
          head: { sha: NEWER, repo: { full_name: "mallory/deploy" } },
        },
      },
    });
    fs.mkdirSync(path.join(m.workdir, "untrusted"));
    fs.writeFileSync(path.join(m.workdir, "untrusted", "staging.txt"), opts.plan);
    fs.writeFileSync(path.join(m.workdir, "untrusted", "pr-number"), opts.number ?? "12\n");
    return m;
  }

  it("posts the render as text under berth's own header, to the pull request the run was made for", () => {
    const hostile = "+ container\n```\n@everyone <img src=x onerror=alert(1)> [click](https://evil.example)\n````\n";
    const m = fork({ plan: hostile });
    const r = run(m, "plan-comment.yml", "comment", context());
    assert.equal(r.failed, undefined, r.failed?.output);
    const [comment] = ghState(m).comments;
    assert.equal(comment.number, "12");
    assert.match(comment.body, /^### berth plan --diff: stack `staging`\n/);
    assert.match(
      comment.body,
      /made by the fork's own \[workflow run\]\(https:\/\/github\.com\/acme\/deploy\/actions\/runs\/77\) at `2222/,
    );
    assert.match(comment.body, /untrusted output, shown as text/);
    // The fence is longer than any backtick run in the text, so the text cannot end it.
    const open = /\n(`{3,})text\n/.exec(comment.body)!;
    assert.equal(open[1], "`````");
    const inside = comment.body.slice(open.index + open[0].length, comment.body.lastIndexOf(`\n${open[1]}`));
    assert.equal(inside, `${hostile}`);
    assert.ok(comment.body.trimEnd().endsWith(open[1]));
  });

  it("cuts a long render and refuses an artifact larger than a plan", () => {
    const long = "x".repeat(99) + "\n";
    const m = fork({ plan: long.repeat(1000) });
    assert.equal(run(m, "plan-comment.yml", "comment", context()).failed, undefined);
    const body: string = ghState(m).comments[0].body;
    assert.ok(body.length < 61_000, `${body.length} characters`);
    assert.match(body, /\[cut: the render has 100000 bytes\]/);

    const huge = fork({ plan: "small", size: 5_000_000 });
    const r = run(huge, "plan-comment.yml", "comment", context());
    assert.match(r.failed!.output, /has 5000000 bytes; a plan has far fewer/);
    assert.equal(ghState(huge).comments, undefined);
  });

  it("refuses a pull request whose head is not the run's commit, or that the fork named wrongly", () => {
    const notThatRun = /pull request #12 is not the open pull request of mallory\/deploy at 2222/;
    for (const [opts, why] of [
      [{ plan: "p", pr: { state: "open", head: { sha: SHA, repo: { full_name: "mallory/deploy" } } } }, notThatRun],
      [{ plan: "p", pr: { state: "open", head: { sha: NEWER, repo: { full_name: "acme/deploy" } } } }, notThatRun],
      [{ plan: "p", pr: { state: "closed", head: { sha: NEWER, repo: { full_name: "mallory/deploy" } } } }, notThatRun],
      [{ plan: "p", number: "12; rm -rf /" }, /the artifact does not name a pull request/],
    ] as const) {
      const m = fork(opts);
      const r = run(m, "plan-comment.yml", "comment", context());
      assert.match(r.failed?.output ?? "", why, JSON.stringify(opts));
      assert.equal(ghState(m).comments, undefined);
    }
  });
});

describe("the app's repository, run", () => {
  const context = (inputs: Record<string, string> = {}): Context => ({
    github: {
      repository: "Acme/MyApp",
      sha: SHA,
      ref: "refs/heads/main",
      run_id: 3,
      event_name: "push",
      token: "app-token",
      actor: "dev",
    },
    inputs: { "deploy-repository": "acme/deploy", image: "", ...inputs },
    secrets: { "deploy-token": "deploy-token" },
  });
  const APP_HEAD = "repos/Acme/MyApp/commits/refs/heads/main";

  it("names the image in lower case, as berth:image must be", () => {
    const m = machine({});
    const r = run(m, "app.yml", "image", context());
    assert.equal(r.failed, undefined, r.failed?.output);
    assert.deepEqual(r.outputs.name, { image: "ghcr.io/acme/myapp", registry: "ghcr.io" });
    const wrong = run(machine({}), "app.yml", "image", context({ image: "ghcr.io/Acme/MyApp" }));
    assert.match(wrong.failed!.output, /'ghcr\.io\/Acme\/MyApp' is not an image name without tag in lower case/);
  });

  it("asks for the deploy of the pushed digest with the deploy token, only while its commit is the head", () => {
    const ask = (head: string) => {
      const m = machine({ api: { [APP_HEAD]: { sha: head } } });
      const r = runJob({
        file: path.join(DIR, "app.yml"),
        job: "deploy",
        context: context(),
        workdir: m.workdir,
        bin,
        env: m.env,
        // What the image job handed on.
        needs: { image: { outputs: { image: "ghcr.io/acme/myapp", digest: DIGEST } } },
      });
      after(() => fs.rmSync(r.dir, { recursive: true, force: true }));
      return { r, gh: ghState(m) };
    };
    const current = ask(SHA);
    assert.equal(current.r.failed, undefined, current.r.failed?.output);
    assert.deepEqual(current.gh.dispatches, [
      {
        workflow: "deploy.yml",
        repo: "acme/deploy",
        ref: "main",
        fields: { version: DIGEST, image: "ghcr.io/acme/myapp", source: `Acme/MyApp@${SHA}` },
        token: "deploy-token",
      },
    ]);
    assert.equal(current.gh.calls[0].token, "app-token", "the head is read with the app repository's own token");
    const stale = ask(NEWER);
    assert.equal(stale.gh.dispatches, undefined);
  });
});
