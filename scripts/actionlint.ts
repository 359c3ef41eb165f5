// `npm run actionlint`: actionlint on every GitHub workflow of the repository (guard/actionlint.ts).
import * as fs from "node:fs";
import * as path from "node:path";
import { DIRS, lint, ROOT, workflowFiles } from "../guard/actionlint";

(async () => {
  const files = workflowFiles();
  if (files.length === 0) throw new Error(`no workflow found in ${DIRS.join(", ")}`);
  const problems = (await Promise.all(files.map((f) => lint(f, fs.readFileSync(path.join(ROOT, f), "utf8"))))).flat();
  for (const p of problems) console.error(p);
  console.log(`actionlint: ${files.length} workflows, ${problems.length} problems`);
  process.exit(problems.length ? 1 : 0);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
