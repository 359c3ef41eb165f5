#!/usr/bin/env node
// Runs the TypeScript command line directly: tsx compiles on load, so there is no build step.
require("tsx/cjs/api").register();
// Output piped into a program that stops reading (berth --help | head) is not an error.
process.stdout.on("error", (err) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});
const { runCli } = require("../cli/main.ts");

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`berth: ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 1;
  },
);
