// The entry point Pulumi runs (Pulumi.yaml main), started the way `pulumi preview` starts it:
// @pulumi/pulumi's own launcher (cmd/run) talking to a stand-in engine. It must register the
// same resources as the test harness from a cold and from a warm cache, find everything in the
// caches `npm ci` fills, and still point at the user's mistakes: a configuration error names its
// key and where it is written, a program bug its TypeScript line.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { stripVTControlCharacters } from "node:util";
import { parse } from "yaml";
import { BERTH, launch, StackFile } from "../../plan/launch";
import { Monitor, startMonitor } from "../../plan/monitor";
import { ROOT, runIndex, stackConfig } from "../support/harness";

let monitor: Monitor;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-start-"));
before(async () => (monitor = await startMonitor({ project: "berth", stack: "staging" })));
after(async () => {
  await monitor.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const start = (
  cacheDir: string,
  file: StackFile = stackConfig("staging"),
  root = ROOT,
  env: Record<string, string> = {},
) => launch(monitor, { stack: "staging", file, variant: BERTH, root, env: { BERTH_CACHE_DIR: cacheDir, ...env } });

/** A project of its own with berth's entry and this index.ts. */
function projectWith(lines: string[]): string {
  const project = fs.mkdtempSync(path.join(tmp, "project-"));
  fs.cpSync(path.join(ROOT, "start"), path.join(project, "start"), { recursive: true });
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(project, "node_modules"));
  fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ name: "project", main: "index.ts" }));
  fs.writeFileSync(path.join(project, "index.ts"), lines.join("\n"));
  return project;
}

/** What a run leaves in the cache: each file and its size (the code cache is rewritten only when it grew). */
const contents = (dir: string) =>
  Object.fromEntries(fs.readdirSync(dir).map((f) => [f, fs.statSync(path.join(dir, f)).size]));

describe("start entry", () => {
  it("is what Pulumi.yaml runs, with Pulumi's ts-node type check off", () => {
    const project = parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
    assert.equal(project.main, "start/index.cjs");
    assert.equal(project.runtime.options.typescript, false);
  });

  it("registers every resource of the stack through Pulumi's launcher, compiling once and then reading the caches", async () => {
    const cache = fs.mkdtempSync(path.join(tmp, "cache-"));
    const rendered = await runIndex("staging", stackConfig("staging"));
    // The launcher registers the stack resource itself; the harness records the program's.
    const expected = rendered.resources.length + 1;
    assert.equal((await start(cache)).resources, expected);
    const cold = contents(cache);
    const programFiles = Object.keys(cold).filter((f) => f.endsWith(".js"));
    assert.ok(programFiles.length >= 10, `one transpiled file per program module, got ${programFiles.length}`);
    assert.ok(
      Object.keys(cold).some((f) => f.endsWith(".bin")),
      "the compiled code of every module is cached",
    );
    assert.equal((await start(cache)).resources, expected);
    assert.deepEqual(contents(cache), cold, "a warm start compiles nothing new");
  });

  it("finds both caches full after npm ci's precompile, so the first start compiles nothing", async () => {
    const cache = fs.mkdtempSync(path.join(tmp, "precompiled-"));
    execFileSync(process.execPath, ["start/index.cjs", "--precompile"], {
      cwd: ROOT,
      env: { ...process.env, BERTH_CACHE_DIR: cache },
      timeout: 60_000,
    });
    const precompiled = contents(cache);
    assert.ok(Object.keys(precompiled).length >= 15, `${Object.keys(precompiled).length} files precompiled`);
    await start(cache);
    assert.deepEqual(contents(cache), precompiled, "the start found every module in the caches");
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
    assert.equal(pkg.scripts.postinstall, "node start/index.cjs --precompile");
  });

  it("precompiles the modules the program imports, whatever folder they are in, and no file it does not import", () => {
    const project = projectWith(['import { answer } from "./reports/answer";', "export = () => ({ answer });", ""]);
    fs.writeFileSync(
      path.join(project, "package.json"),
      JSON.stringify({ name: "project", main: "index.ts", dependencies: {} }),
    );
    for (const [file, text] of [
      ["reports/answer.ts", 'export const answer = "imported from a new folder";\n'],
      ["unused/other.ts", 'export const other = "imported by nothing";\n'],
    ]) {
      fs.mkdirSync(path.dirname(path.join(project, file)), { recursive: true });
      fs.writeFileSync(path.join(project, file), text);
    }
    const cache = fs.mkdtempSync(path.join(tmp, "precompiled-"));
    execFileSync(process.execPath, [path.join(project, "start", "index.cjs"), "--precompile"], {
      cwd: project,
      env: { ...process.env, BERTH_CACHE_DIR: cache },
      timeout: 60_000,
    });
    const files = fs.readdirSync(cache);
    const transpiled = files.filter((f) => f.endsWith(".js")).map((f) => fs.readFileSync(path.join(cache, f), "utf8"));
    assert.ok(
      transpiled.some((code) => code.includes("imported from a new folder")),
      "reports/answer.ts transpiled",
    );
    assert.ok(!transpiled.some((code) => code.includes("imported by nothing")), "unused/other.ts left alone");
    const packIndex = files.find((f) => f.endsWith(".bin.json"));
    assert.ok(packIndex, `a code cache among ${files.join(", ")}`);
    const compiled = Object.keys(JSON.parse(fs.readFileSync(path.join(cache, packIndex), "utf8")));
    for (const file of ["index.ts", "reports/answer.ts"])
      assert.ok(
        compiled.includes(path.join(fs.realpathSync(project), file)) || compiled.includes(path.join(project, file)),
        `${file} in the code cache`,
      );
  });

  it("names the key and its line in the stack file for a configuration mistake, without a stack trace", async () => {
    const bad = stackConfig("staging", (c: any) => (c["berth:servers"].web.hosts = ["nope"]));
    await assert.rejects(start(fs.mkdtempSync(path.join(tmp, "cache-")), bad), (err: Error) => {
      assert.match(
        err.message,
        /berth:servers\.web\.hosts\[0\] \(Pulumi\.staging\.yaml:\d+:\d+\): unknown host "nope"/,
      );
      assert.doesNotMatch(err.message, /^\s+at /m);
      return true;
    });
  });

  it("points a program bug at its TypeScript line, and at its column too with BERTH_SOURCE_MAPS=1", async () => {
    // Types and blank lines above the bug, which a transpiler that moved lines would put elsewhere.
    const lines = [
      'import * as pulumi from "@pulumi/pulumi";',
      "",
      "interface Plan {",
      "  hosts: string[];",
      "}",
      "",
      "export = async () => {",
      "  const plan: Plan = { hosts: [] };",
      '  new pulumi.ComponentResource("test:index:Thing", "thing");',
      "  const count: number = plan.hosts.length; throw new Error(`a bug with ${count} hosts`);",
      "};",
    ];
    const project = projectWith(lines);
    // V8 places an Error where it is constructed.
    const column = lines[9].indexOf("new Error") + 1;
    for (const maps of ["0", "1"]) {
      const cache = fs.mkdtempSync(path.join(tmp, "cache-"));
      await assert.rejects(
        start(cache, { config: {}, secretKeys: [] }, project, { BERTH_SOURCE_MAPS: maps }),
        (err: Error) => {
          // Pulumi prints the trace in colour (util.inspect); the positions are what matter.
          const message = stripVTControlCharacters(err.message);
          assert.match(message, /a bug with 0 hosts/);
          const file = path.join(project, "index.ts").replace(/[.]/g, "\\.");
          const at = new RegExp(`${file}:(\\d+):(\\d+)`).exec(message);
          assert.ok(at, `a frame in index.ts: ${message}`);
          assert.equal(Number(at[1]), 10, "the line of the throw");
          if (maps === "1") assert.equal(Number(at[2]), column, "the column of the error");
          return true;
        },
      );
    }
  });

  it("loads the TypeScript compiler and arborist only when a function is serialized, and serializes it then", async () => {
    const project = projectWith([
      'import * as path from "node:path";',
      'import { types } from "node:util";',
      'import * as pulumi from "@pulumi/pulumi";',
      'const sdk = path.dirname(require.resolve("@pulumi/pulumi/package.json"));',
      "// Whether the module the SDK requires is still the stand-in (a proxy), not the package itself.",
      "const standIns = () =>",
      '  ["typescript", "@npmcli/arborist"].map((id) => types.isProxy(require.cache[require.resolve(id, { paths: [sdk] })]?.exports));',
      "export = async () => {",
      "  const before = standIns();",
      "  const closure = await pulumi.runtime.serializeFunction(() => 6 * 7);",
      "  const paths = await pulumi.runtime.computeCodePaths();",
      "  return { before, after: standIns(), text: closure.text, paths: paths.size };",
      "};",
    ]);
    const { outputs } = await start(fs.mkdtempSync(path.join(tmp, "cache-")), { config: {}, secretKeys: [] }, project);
    assert.deepEqual(outputs.before, [true, true], "neither package is loaded before the program needs it");
    assert.deepEqual(outputs.after, [false, false], "both are loaded once used");
    assert.match(String(outputs.text), /6 \* 7/);
    assert.equal(typeof outputs.paths, "number");
  });

  it("records no stack on the SDK's promises unless PULUMI_DEBUG_PROMISE_LEAKS asks for the leak report", () => {
    // In a new process, as the entry does it: what the SDK keeps on one of its promises, and
    // whether every other stack trace keeps its frames.
    const probe = (env: Record<string, string>) =>
      JSON.parse(
        execFileSync(
          process.execPath,
          [
            "-e",
            [
              'require("./start/sdk.cjs").skipPromiseTraces();',
              'const debuggable = require("@pulumi/pulumi/runtime/debuggable");',
              "const p = Promise.resolve(1);",
              'debuggable.debuggablePromise(p, "probe");',
              "const frames = (s) => s.split('\\n').filter((l) => l.trim().startsWith('at ')).length;",
              "console.log(JSON.stringify({ kept: frames(p._debugStackTrace), label: p._debugCtx,",
              "  elsewhere: frames(new Error().stack), limit: Error.stackTraceLimit }));",
            ].join("\n"),
          ],
          { cwd: ROOT, env: { ...process.env, ...env }, encoding: "utf8" },
        ),
      );
    const plain = probe({});
    assert.deepEqual([plain.kept, plain.label, plain.limit], [0, "probe", 10]);
    assert.ok(plain.elsewhere > 0, "a stack trace anywhere else keeps its frames");
    const debugging = probe({ PULUMI_DEBUG_PROMISE_LEAKS: "1" });
    assert.ok(debugging.kept > 0, "the leak report gets its stacks");
  });
});
