// The berth command line.
import { Command } from "commander";
import { registerImport } from "./import";

const program = new Command("berth").description("Deploy web apps the way Kamal 2 does, as a Pulumi program");
registerImport(program);
try {
  program.parse();
} catch (err) {
  process.stderr.write(`berth: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
