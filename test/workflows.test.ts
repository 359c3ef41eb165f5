// The GitHub workflows: parsed as YAML and checked on what matters (triggers, permissions, the
// preview comment, the fork path that runs no secrets, deploy order and concurrency), and every
// shell step through shellcheck.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { ROOT } from "./harness";

const DIR = path.join(ROOT, ".github", "workflows");
const load = (name: string) => parse(fs.readFileSync(path.join(DIR, name), "utf8"));
const STACKS = fs
  .readdirSync(ROOT)
  .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
  .filter((s): s is string => !!s)
  .sort();

type Step = { uses?: string; run?: string; with?: Record<string, unknown>; env?: Record<string, string> };
const steps = (job: { steps?: Step[] }) => job.steps ?? [];
const using = (job: { steps?: Step[] }, action: string) => steps(job).filter((s) => s.uses?.startsWith(`${action}@`));

describe("workflows", () => {
  const files = fs.readdirSync(DIR).filter((f) => f.endsWith(".yml"));

  it("parse, name every job's steps with pinned action versions", () => {
    assert.deepEqual(files.sort(), ["deploy-stack.yml", "deploy.yml", "plan-comment.yml", "preview.yml"]);
    for (const f of files) {
      const wf = load(f);
      assert.ok(wf.name && wf.on && wf.jobs, f);
      for (const [id, job] of Object.entries<any>(wf.jobs))
        for (const s of steps(job)) if (s.uses) assert.match(s.uses, /^(\.\/|[\w.-]+\/[\w.-]+@v\d+$)/, `${f} ${id}`);
    }
  });

  it("run steps pass shellcheck and never interpolate pull request text into a script", () => {
    for (const f of files) {
      for (const job of Object.values<any>(load(f).jobs)) {
        for (const s of steps(job)) {
          if (!s.run) continue;
          assert.doesNotMatch(s.run, /\$\{\{[^}]*(head_ref|pull_request\.(title|body|head))/, `${f}: ${s.run}`);
          // GitHub expands ${{ }} before the shell runs; shellcheck sees a plain word there.
          const script = `#!/usr/bin/env bash\nset -e\n${s.run.replace(/\$\{\{[^}]*\}\}/g, "GITHUB_EXPR")}`;
          const r = spawnSync("shellcheck", ["-s", "bash", "-"], { input: script, encoding: "utf8" });
          assert.equal(r.error, undefined, "shellcheck is not installed; run: apt-get install -y shellcheck");
          assert.equal(r.status, 0, `${f}:\n${s.run}\n${r.stdout}`);
        }
      }
    }
  });

  it("preview: pulumi preview of every stack commented on same-repository pull requests", () => {
    const wf = load("preview.yml");
    assert.ok("pull_request" in wf.on);
    assert.equal(wf.permissions["pull-requests"], "write");
    const job = wf.jobs.preview;
    assert.equal(job.if, "github.event.pull_request.head.repo.full_name == github.repository");
    assert.deepEqual([...job.strategy.matrix.stack].sort(), STACKS);
    const preview = using(job, "pulumi/actions").find((s) => s.with?.command === "preview");
    assert.ok(preview, "runs pulumi/actions with command: preview");
    assert.equal(preview.with!["stack-name"], "${{ matrix.stack }}");
    assert.equal(preview.with!["comment-on-pr"], true);
    assert.equal(preview.with!["github-token"], "${{ secrets.GITHUB_TOKEN }}");
    assert.ok(
      steps(job).some((s) => s.run?.includes("pulumi config set berth:version")),
      "previews against the deployed version",
    );
  });

  it("fork pull requests: the berth plan --diff render, without secrets or write access, saying why", () => {
    const wf = load("preview.yml");
    const job = wf.jobs["fork-plan"];
    assert.equal(job.if, "github.event.pull_request.head.repo.full_name != github.repository");
    assert.deepEqual(job.permissions, { contents: "read" });
    assert.doesNotMatch(JSON.stringify(job), /secrets\./);
    assert.deepEqual([...job.strategy.matrix.stack].sort(), STACKS);
    const render = steps(job).find((s) => s.run?.includes("berth plan"))!;
    assert.match(render.run!, /berth plan --stack "\$STACK" --diff "\$BASE_SHA"/);
    assert.match(render.run!, /comes from a fork/);
    assert.match(render.run!, /no secrets/);
    assert.match(render.run!, /The real change set comes from/);
    assert.equal(using(job, "actions/checkout")[0].with?.["fetch-depth"], 0, "the base revision is needed for --diff");
    assert.ok(using(job, "actions/upload-artifact").length === 1);

    const comment = load("plan-comment.yml");
    assert.deepEqual(comment.on.workflow_run.workflows, [wf.name]);
    assert.equal(comment.permissions["pull-requests"], "write");
    for (const j of Object.values<any>(comment.jobs)) {
      assert.equal(using(j, "actions/checkout").length, 0, "never checks out the fork's code");
      assert.ok(steps(j).some((s) => s.run?.includes("gh pr comment")));
    }
  });

  it("main: build and push, then staging, then production, each at the pushed digest, one deploy per stack at a time", () => {
    const wf = load("deploy.yml");
    assert.deepEqual(wf.on.push.branches, ["main"]);
    const push = using(wf.jobs.image, "docker/build-push-action")[0];
    assert.equal(push.with!.push, true);
    assert.equal(wf.jobs.image.outputs.digest, `\${{ steps.${(push as { id?: string }).id}.outputs.digest }}`);
    assert.equal(wf.jobs.image.permissions.packages, "write");
    assert.equal(wf.jobs.staging.needs, "image");
    assert.deepEqual(wf.jobs.production.needs, ["image", "staging"]);
    for (const stack of ["staging", "production"]) {
      assert.equal(wf.jobs[stack].uses, "./.github/workflows/deploy-stack.yml");
      assert.deepEqual(wf.jobs[stack].with, { stack, version: "${{ needs.image.outputs.digest }}" });
    }

    const call = load("deploy-stack.yml");
    const up = call.jobs.up;
    assert.deepEqual(up.concurrency, { group: "berth-deploy-${{ inputs.stack }}", "cancel-in-progress": false });
    assert.equal(up.env.VERSION, "${{ inputs.version }}");
    const set = steps(up).findIndex((s) => s.run?.includes('pulumi config set berth:version "$VERSION"'));
    const deploy = steps(up).findIndex((s) => s.uses?.startsWith("pulumi/actions@") && s.with?.command === "up");
    assert.ok(set >= 0 && deploy > set, "berth:version is set before pulumi up");
    assert.equal(steps(up)[deploy].with!["stack-name"], "${{ inputs.stack }}");
  });
});
