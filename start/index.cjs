// How Pulumi starts berth (Pulumi.yaml: `main: start/index.cjs`, `typescript: false`).
//
// Pulumi's default for a TypeScript program is ts-node with type checking, which type-checks
// the whole program on every preview and up. berth type-checks in CI instead (`npm test` runs
// `tsc --noEmit`) and here only strips types: each .ts file is transpiled by esbuild once and
// cached by content in node_modules/.cache/berth, so an unchanged program starts from plain
// JavaScript. The cache can be deleted at any time; a changed file is simply transpiled again.
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const cacheDir = process.env.BERTH_CACHE_DIR || path.join(root, "node_modules", ".cache", "berth");
const target = "es2022";
// Part of every cache key: a new esbuild or new transpile settings never reuse old output.
const settings = `${require("esbuild/package.json").version}|${target}|cjs|inline-sourcemap`;

let esbuild;
function transpile(source, filename) {
  esbuild ??= require("esbuild");
  return esbuild.transformSync(source, {
    loader: "ts",
    format: "cjs",
    target,
    sourcemap: "inline",
    sourcefile: filename,
  }).code;
}

/** The transpiled code of a .ts file, from the cache or freshly made (and cached). */
function compiled(filename) {
  const source = fs.readFileSync(filename, "utf8");
  const key = crypto.createHash("sha256").update(settings).update("\0").update(filename).update("\0").update(source);
  const cached = path.join(cacheDir, `${key.digest("hex")}.js`);
  let code;
  try {
    code = fs.readFileSync(cached, "utf8");
  } catch {
    code = transpile(source, filename);
    try {
      fs.mkdirSync(cacheDir, { recursive: true });
      // Write then rename, so a concurrent start never reads half a file.
      const tmp = `${cached}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, code);
      fs.renameSync(tmp, cached);
    } catch {
      // A read-only checkout still runs; it transpiles on every start.
    }
  }
  return code;
}

// `node start/index.cjs --precompile` (run by `npm install` / `npm ci`) fills the cache with the
// program's files ahead of time, so even the first preview on a fresh CI runner starts from
// plain JavaScript.
if (process.argv.includes("--precompile")) {
  const files = ["index.ts"];
  for (const dir of ["config", "components"]) {
    for (const entry of fs.readdirSync(path.join(root, dir), { recursive: true })) {
      if (String(entry).endsWith(".ts")) files.push(path.join(dir, String(entry)));
    }
  }
  for (const file of files) compiled(path.join(root, file));
  return;
}

require.extensions[".ts"] = (module, filename) => module._compile(compiled(filename), filename);
// Node's source maps make every captured stack trace cost a source-map lookup, and Pulumi captures
// one per resource promise: about a fifth of the start-up. Stack traces point at the transpiled
// code unless BERTH_SOURCE_MAPS=1 asks for the .ts lines.
if (process.env.BERTH_SOURCE_MAPS === "1") process.setSourceMapsEnabled(true);
// Pulumi's launcher (@pulumi/pulumi cmd/run) takes the stack outputs from the exports of the
// module Pulumi.yaml names, so this entry hands on index.ts's exports unchanged.
module.exports = require(path.join(root, "index.ts"));
