// Runs index.ts once in Pulumi's mock runtime, the way the Node.js language host would start it,
// and prints when the last resource was registered. Plain CommonJS on purpose: the loader under
// measurement must compile berth's program and nothing else.
//
//   node [nodeargs] scripts/bench/program.cjs <loader>
//
// <loader> is "ts-node" (the language host's default: its ts-node registration with type
// checking), "ts-node-transpile" (the same with PULUMI_NODEJS_TRANSPILE_ONLY=true), or "none"
// (a loader was given through nodeargs, e.g. --import tsx, or the entry point is compiled JS).
// The stack configuration arrives as the language host passes it: PULUMI_CONFIG and
// PULUMI_CONFIG_SECRET_KEYS.
"use strict";
const path = require("node:path");
const pulumi = require("@pulumi/pulumi");

const [loader, entry = "index.ts"] = process.argv.slice(2);
const root = path.resolve(__dirname, "..", "..");

/** What @pulumi/pulumi's cmd/run does when PULUMI_NODEJS_TYPESCRIPT=true and module is CommonJS. */
function registerTsNode(transpileOnly) {
  const tsutils = require("@pulumi/pulumi/tsutils");
  const tsConfigPath = path.join(root, "tsconfig.json");
  const { tsnodeRequire, typescriptRequire } = tsutils.typeScriptRequireStrings();
  require(tsnodeRequire).register({
    compiler: typescriptRequire,
    transpileOnly,
    project: tsConfigPath,
    skipProject: false,
    compilerOptions: {
      target: "ES2020",
      module: "nodenext",
      moduleResolution: "nodenext",
      sourceMap: "true",
      ...tsutils.loadTypeScriptCompilerOptions(tsConfigPath),
    },
  });
}

async function main() {
  let count = 0;
  let last = 0;
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => ({ id: args.custom === false ? undefined : `${args.name}-id`, state: args.inputs }),
      call: (args) => args.inputs,
    },
    "berth",
    process.env.BENCH_STACK || "production",
    false,
  );
  const monitor = pulumi.runtime.getMonitor();
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    count++;
    last = performance.timeOrigin + performance.now();
    return register(req, callback);
  };

  if (loader === "ts-node") registerTsNode(undefined);
  else if (loader === "ts-node-transpile") registerTsNode(true);
  else if (loader !== "none") throw new Error(`unknown loader ${loader}`);

  const loadStart = performance.now();
  const program = require(path.resolve(root, entry));
  const loaded = performance.now();
  // Like Pulumi's launcher (cmd/run/run.js): an exported function is the program; call it.
  if (typeof program === "function") await program();
  // Settled when nothing new was registered for 200 ms.
  let seen = -1;
  while (seen !== count) {
    seen = count;
    await new Promise((r) => setTimeout(r, 200));
  }
  process.stdout.write(
    JSON.stringify({
      resources: count,
      lastRegistration: last,
      // Milliseconds since this process started (performance.timeOrigin).
      programStart: loadStart,
      programLoaded: loaded,
      lastRegistered: last - performance.timeOrigin,
      // Peak resident memory of the process, in kB.
      maxRss: process.resourceUsage().maxRSS,
    }) + "\n",
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
