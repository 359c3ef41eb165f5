// The deploy path table of docs/performance.md, from guard/steps.ts.
import * as fs from "node:fs";
import { DOCS, documentedTable, pathRow, PathRow, pathTable, TABLE_END, TABLE_START } from "../../guard/steps";

// `npx tsx scripts/bench/steps.ts [--write]`: the critical path of a version bump for 1, 10 and
// 100 hosts at boot.limit 1 and 25%; --write puts the table into docs/performance.md.
(async () => {
  const rows: PathRow[] = [];
  for (const hosts of [1, 10, 100]) for (const limit of [1, "25%"]) rows.push(await pathRow(hosts, limit));
  const table = pathTable(rows);
  process.stdout.write(table);
  if (process.argv.includes("--write")) {
    const text = fs.readFileSync(DOCS, "utf8");
    const old = documentedTable();
    fs.writeFileSync(DOCS, text.replace(`${TABLE_START}${old}${TABLE_END}`, `${TABLE_START}${table}${TABLE_END}`));
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
