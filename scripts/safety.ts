// `npm run safety`: renders the example stacks under Pulumi's mock runtime, applies each change of
// guard/changes.ts and audits secrets (guard/matrix.ts); writes docs/blast-radius.md,
// docs/secrets-audit.md and the summary table in README.md (guard/docs.ts). `npm test` checks them
// (test/guard/blast.test.ts and test/guard/secrets.test.ts, from the matrix and audit they compute
// anyway); `--check` checks alone.
import * as fs from "node:fs";
import * as path from "node:path";
import { generatedDocs, staleDocs } from "../guard/docs";

(async () => {
  const root = path.resolve(__dirname, "..");
  const docs = await generatedDocs(root);
  if (process.argv.includes("--check")) {
    const stale = staleDocs(root, docs);
    for (const file of stale) console.error(`${file} is out of date: run npm run safety`);
    process.exit(stale.length ? 1 : 0);
  }
  for (const [file, text] of Object.entries(docs)) {
    fs.writeFileSync(path.join(root, file), text);
    console.log(`wrote ${file}`);
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
