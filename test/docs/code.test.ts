// The rules of docs/code.md, read from the page itself: each folder imports only the folders its
// row of the table names, no file imports itself back through others, and a file over 400 lines
// gives its reason in its first line.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { ROOT } from "../support/harness";

const SOURCE = /\.(ts|cjs|mjs|js)$/;

/** The files git tracks, fixtures (other projects' code and stand-ins) left out. */
const tracked = execFileSync("git", ["ls-files"], { cwd: ROOT, encoding: "utf8" })
  .split("\n")
  .filter((f) => SOURCE.test(f) && !f.startsWith("test/fixtures/"));

/** The folder a file belongs to in the table: its top folder, or its own name at the root. */
const owner = (file: string) => (file.includes("/") ? file.split("/")[0] : file);

/** The table of docs/code.md: folder -> the folders it may import. */
function allowed(): Map<string, Set<string>> {
  const page = fs.readFileSync(path.join(ROOT, "docs", "code.md"), "utf8");
  const rows = [...page.matchAll(/^\| `([^`]+)`\s*\|[^|]*\|([^|]*)\|$/gm)];
  return new Map(
    rows.map(([, folder, may]) => [
      folder.replace(/\/$/, ""),
      new Set(may.trim() === "nothing" ? [] : may.split(",").map((f) => f.trim())),
    ]),
  );
}

interface Import {
  target: string;
  /** `import type`: erased when compiled, so it cannot close a cycle at run time. */
  typeOnly: boolean;
}

/**
 * The files of berth's that `file` imports: imports and re-exports, side-effect imports, requires
 * and dynamic imports by relative path, and modules loaded by their path from the repository's
 * root (start/index.cjs loading the program, the stand-in pulumi's berthModule).
 */
function imports(file: string): Import[] {
  const text = fs.readFileSync(path.join(ROOT, file), "utf8");
  const RELATIVE = `["'](\\.{1,2}\\/[^"']+)["']`;
  const statements = [
    ...text.matchAll(new RegExp(`\\b(?:import|export)\\s+(type\\s+)?[^;]*?\\bfrom\\s+${RELATIVE}`, "g")),
  ];
  const bare = [...text.matchAll(new RegExp(`\\bimport\\s+${RELATIVE}`, "g"))];
  const calls = [...text.matchAll(new RegExp(`\\b(?:import|require)\\(\\s*${RELATIVE}`, "g"))];
  const fromRoot = [
    ...text.matchAll(
      /\b(?:berthModule\(|path\.join\(\s*(?:root|ROOT)\s*,\s*)["']([^"']+\.(?:ts|cjs|mjs|js))["']\s*\)/g,
    ),
  ];
  const resolve = (target: string) => {
    const candidates = [target, `${target}.ts`, `${target}/index.ts`, `${target}.cjs`, `${target}.js`];
    return candidates.find((c) => tracked.includes(c)) ?? target;
  };
  const relative = (p: string) => resolve(path.posix.normalize(path.posix.join(path.posix.dirname(file), p)));
  return [
    ...statements.map((m) => ({ target: relative(m[2]), typeOnly: !!m[1] })),
    ...[...bare, ...calls].map((m) => ({ target: relative(m[1]), typeOnly: false })),
    ...fromRoot.map((m) => ({ target: resolve(m[1]), typeOnly: false })),
  ];
}

type Imports = (file: string) => Import[];

/** Each import of `files` that the table does not allow, as a line naming the fix. */
function layerViolations(files: string[], importsOf: Imports, table: Map<string, Set<string>>): string[] {
  const wrong: string[] = [];
  for (const file of files) {
    const from = owner(file);
    const may = table.get(from);
    if (!may) continue;
    for (const { target } of importsOf(file)) {
      const to = owner(target);
      if (to !== from && !may.has(to))
        wrong.push(`${file} imports ${target} (${from} may import: ${[...may].join(", ") || "nothing"})`);
    }
  }
  return wrong;
}

/** Every chain of run-time imports that leads from a file back to itself. */
function cycles(files: string[], importsOf: Imports): string[] {
  const graph = new Map(
    files.map((f) => [
      f,
      importsOf(f)
        .filter((i) => !i.typeOnly && files.includes(i.target))
        .map((i) => i.target),
    ]),
  );
  const done = new Set<string>();
  const found: string[] = [];
  const visit = (file: string, trail: string[]) => {
    if (trail.includes(file)) return void found.push([...trail.slice(trail.indexOf(file)), file].join(" -> "));
    if (done.has(file)) return;
    for (const next of graph.get(file) ?? []) visit(next, [...trail, file]);
    done.add(file);
  };
  for (const file of files) visit(file, []);
  return found;
}

describe("the code's layout (docs/code.md)", () => {
  const table = allowed();

  it("lists every folder that holds code, and each folder imports only what its row allows", () => {
    assert.ok(table.size > 10, `docs/code.md's table has ${table.size} rows`);
    const unlisted = [...new Set(tracked.filter((f) => f.includes("/")).map(owner))].filter((o) => !table.has(o));
    assert.deepEqual(unlisted, [], "folders of code missing from docs/code.md's table");
    assert.ok(!table.get("config")!.has("components"), "config imports nothing of the program");
    assert.ok(!table.get("test")!.has("scripts") && !table.get("scripts")!.has("test"), "tests and runners apart");
    assert.ok(
      imports("cli/main.ts").some((i) => i.target === "cli/fleet.ts"),
      "imports are read",
    );
    assert.deepEqual(layerViolations(tracked, imports, table), []);
  });

  it("has no file that imports itself back through others when it runs", () => {
    assert.ok(imports("config/schema/rules.ts").some((i) => i.target === "config/schema/input.ts" && i.typeOnly));
    assert.deepEqual(cycles(tracked, imports), []);
  });

  it("refuses an import the table does not allow, and a cycle unless one side imports types only", () => {
    const graph: Record<string, Import[]> = {
      "config/a.ts": [{ target: "components/b.ts", typeOnly: false }],
      "components/b.ts": [{ target: "config/a.ts", typeOnly: false }],
      "components/c.ts": [{ target: "config/d.ts", typeOnly: false }],
      "config/d.ts": [{ target: "config/e.ts", typeOnly: false }],
      "config/e.ts": [{ target: "config/d.ts", typeOnly: true }],
    };
    const files = Object.keys(graph);
    const of = (f: string) => graph[f];
    assert.deepEqual(layerViolations(files, of, table), [
      "config/a.ts imports components/b.ts (config may import: nothing)",
    ]);
    assert.deepEqual(cycles(files, of), ["config/a.ts -> components/b.ts -> config/a.ts"]);
  });

  it("gives every file over 400 lines its reason in its first line", () => {
    const long = tracked.filter((f) => fs.readFileSync(path.join(ROOT, f), "utf8").split("\n").length > 401);
    assert.ok(long.length > 0, "some files are long; the check must see them");
    const silent = long.filter(
      (f) => !/^\/\/ Longer than 400 lines: \S/.test(fs.readFileSync(path.join(ROOT, f), "utf8")),
    );
    assert.deepEqual(silent, [], "say why at the top (docs/code.md), or split the file");
  });
});
