// Writes the files generated from config/schema.ts. `--check` fails if they are out of date.
import * as fs from "node:fs";
import * as path from "node:path";
import { configurationReference, stackFileJsonSchema } from "../config/reference";

export const generated: Record<string, () => string> = {
  "schema/berth.schema.json": () => `${JSON.stringify(stackFileJsonSchema(), null, 2)}\n`,
  "docs/configuration.md": configurationReference,
};

if (require.main === module) {
  const root = path.resolve(__dirname, "..");
  const check = process.argv.includes("--check");
  let stale = 0;
  for (const [file, render] of Object.entries(generated)) {
    const target = path.join(root, file);
    const text = render();
    if (check) {
      if (!fs.existsSync(target) || fs.readFileSync(target, "utf8") !== text) {
        console.error(`${file} is out of date: run npm run schema`);
        stale++;
      }
    } else {
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, text);
      console.log(`wrote ${file}`);
    }
  }
  process.exit(stale ? 1 : 0);
}
