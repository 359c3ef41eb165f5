// The layout of the tests that docs/testing.md describes: each test file under test/ in the folder
// named after the source folder it tests (test/components/commands/ for components/commands/,
// test/ci/ for the workflows under .github/workflows/), shared helpers in test/support/, fixtures
// in test/fixtures/; and every test file the docs and the sources name exists.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { ROOT } from "../support/harness";

const TESTS = path.join(ROOT, "test");

/** Test folders named otherwise than the source folder they mirror. */
const MIRRORS: Record<string, string> = { ci: ".github/workflows" };

/** Folders of test/ that mirror no source folder. */
const SHARED = ["support", "fixtures"];

/** Folders that hold no source of berth's. */
const NOT_SOURCE = ["node_modules", "dist", "test", ".git"];

/** Every file under `dir`, relative to test/, fixtures left out. */
function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    const relative = path.relative(TESTS, full).split(path.sep).join("/");
    if (relative === "fixtures") return [];
    return entry.isDirectory() ? files(full) : [relative];
  });
}

/** What is wrong with the place of `file` (relative to test/), or nothing. */
function misplaced(file: string, root: string): string | undefined {
  const folder = path.posix.dirname(file);
  const [top, ...rest] = folder.split("/");
  if (folder === ".") return `test/${file}: in no folder; move it to test/<source folder>/`;
  if (top === "support")
    return file.endsWith(".test.ts")
      ? `test/${file}: a test among the helpers; move it to test/<source folder>/`
      : undefined;
  if (!file.endsWith(".test.ts"))
    return `test/${file}: a helper beside the tests; move it to test/support/ (or name it *.test.ts)`;
  const source = path.posix.join(MIRRORS[top] ?? top, ...rest);
  const isFolder = fs.existsSync(path.join(root, source)) && fs.statSync(path.join(root, source)).isDirectory();
  if (NOT_SOURCE.includes(top) || SHARED.includes(top) || !isFolder)
    return `test/${file}: test/${folder}/ names no source folder`;
  return undefined;
}

/** Folders whose files name no test file of berth's: installed, built, state and fixtures. */
const SKIPPED = ["node_modules", "dist", ".git", ".pulumi-state", ".berth-fleet", "test/fixtures"];

/** Files whose text may name a test file: the docs, the sources, the tests and the settings. */
function texts(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const relative = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) return SKIPPED.includes(entry.name) || SKIPPED.includes(relative) ? [] : texts(relative);
    return /\.(ts|cjs|mjs|md|yml|json)$/.test(entry.name) && entry.name !== "package-lock.json" ? [relative] : [];
  });
}

/** The test files (lower-case paths under test/, ending in .ts) that each text names. */
function namedTestFiles(): { file: string; named: string }[] {
  return texts(".").flatMap((file) =>
    [...fs.readFileSync(path.join(ROOT, file), "utf8").matchAll(/\btest\/[a-z0-9_/-]+(?:\.test)?\.ts\b/g)].map((m) => ({
      file,
      named: m[0],
    })),
  );
}

describe("the tests' layout", () => {
  it("puts every test file in the folder of the source folder it tests, helpers in test/support/", () => {
    const all = files(TESTS);
    assert.ok(all.filter((f) => f.endsWith(".test.ts")).length > 30, `too few test files found: ${all.join(", ")}`);
    assert.deepEqual(
      all.map((f) => misplaced(f, ROOT)).filter(Boolean),
      [],
      "tests mirror the source folders (docs/testing.md)",
    );
  });

  it("refuses a test file outside a source folder's mirror, and a helper among the tests", () => {
    assert.match(misplaced("rollout.test.ts", ROOT)!, /in no folder/);
    assert.match(misplaced("deploys/rollout.test.ts", ROOT)!, /names no source folder/);
    assert.match(misplaced("components/rollout/canary.test.ts", ROOT)!, /names no source folder/);
    assert.match(misplaced("fixtures/x.test.ts", ROOT)!, /names no source folder/);
    assert.match(misplaced("cli/outputs.ts", ROOT)!, /a helper beside the tests/);
    assert.match(misplaced("support/harness.test.ts", ROOT)!, /a test among the helpers/);
    assert.equal(misplaced("components/commands/host-scripts.test.ts", ROOT), undefined);
    assert.equal(misplaced("ci/workflows.test.ts", ROOT), undefined);
  });

  it("names only test files that exist, in the docs and the sources", () => {
    const named = namedTestFiles();
    assert.ok(named.length > 10, "the docs name test files");
    const missing = named.filter(({ named }) => !fs.existsSync(path.join(ROOT, named)));
    assert.deepEqual(
      missing.map(({ file, named }) => `${file}: ${named}`),
      [],
    );
  });
});
