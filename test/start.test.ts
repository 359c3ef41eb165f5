// The entry point Pulumi runs (Pulumi.yaml main): it must load the TypeScript program and
// register the same resources as the test harness, from a cold and from a warm cache.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { ROOT, runIndex, stackConfig } from "./harness";

function start(cacheDir: string) {
  const file = stackConfig("staging");
  const out = execFileSync(process.execPath, ["scripts/bench/program.cjs", "none", "start/index.cjs"], {
    cwd: ROOT,
    env: {
      ...process.env,
      BENCH_STACK: "staging",
      BERTH_CACHE_DIR: cacheDir,
      PULUMI_CONFIG: JSON.stringify(file.config),
      PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(file.secretKeys),
    },
    timeout: 60_000,
  });
  return JSON.parse(out.toString()) as { resources: number };
}

describe("start entry", () => {
  it("is what Pulumi.yaml runs, with Pulumi's ts-node type check off", () => {
    const project = parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
    assert.equal(project.main, "start/index.cjs");
    assert.equal(project.runtime.options.typescript, false);
  });

  it("registers every resource of the stack, transpiling once and then reading the cache", async () => {
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), "berth-start-"));
    try {
      const expected = (await runIndex("staging", stackConfig("staging"))).resources.length;
      assert.equal(start(cache).resources, expected);
      const cached = fs.readdirSync(cache);
      assert.ok(cached.length >= 10, `one cached file per program module, got ${cached.length}`);
      assert.ok(cached.every((f) => f.endsWith(".js")));
      assert.equal(start(cache).resources, expected);
      assert.deepEqual(fs.readdirSync(cache).sort(), cached.sort(), "a warm start transpiles nothing new");
    } finally {
      fs.rmSync(cache, { recursive: true, force: true });
    }
  });

  it("precompiles the program at install, so the first start transpiles nothing", () => {
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), "berth-precompiled-"));
    try {
      execFileSync(process.execPath, ["start/index.cjs", "--precompile"], {
        cwd: ROOT,
        env: { ...process.env, BERTH_CACHE_DIR: cache },
        timeout: 60_000,
      });
      const precompiled = fs.readdirSync(cache).sort();
      assert.ok(precompiled.length >= 15, `${precompiled.length} files precompiled`);
      start(cache);
      assert.deepEqual(fs.readdirSync(cache).sort(), precompiled, "the start found every file in the cache");
    } finally {
      fs.rmSync(cache, { recursive: true, force: true });
    }
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
    assert.equal(pkg.scripts.postinstall, "node start/index.cjs --precompile");
  });
});
