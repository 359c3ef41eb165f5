// How Pulumi starts berth (Pulumi.yaml: `main: start/index.cjs`, `typescript: false`).
//
// Pulumi's launcher (@pulumi/pulumi cmd/run) requires this file after it has connected to the
// engine, installed source-map-support and opened an inspector session. From here on, berth
// decides what makes most of its own start-up (docs/performance.md):
//
// - TypeScript: Pulumi's default is ts-node with type checking, on every preview and up. berth
//   type-checks in CI instead (`npm test` runs `tsc --noEmit`) and here only strips types: each
//   .ts file is transpiled by sucrase once and cached by content. sucrase keeps every line where
//   it was, so a stack trace names the TypeScript line without any source map.
// - Compiling JavaScript: every module loaded from here on (the Pulumi SDK's full index with
//   the TypeScript compiler it carries, the providers, zod, yaml, berth itself) is compiled
//   with V8's code cache, kept by content, so an unchanged module is not parsed again.
// - Stack traces: Pulumi formats a stack trace for every resource and many of its promises, and
//   source-map-support maps each frame through the SDK's .js.map files: about a fifth of the
//   start-up. berth formats them the way Node does by default (lines right, columns those of
//   the transpiled code); BERTH_SOURCE_MAPS=1 maps every frame exactly, through source maps.
// - Two costs of the Pulumi SDK for features berth does not use (./sdk.cjs): loading the
//   function serializer's TypeScript compiler and arborist, and a stack trace recorded on each
//   of its promises for a leak report nobody asked for.
//
// Both caches live in node_modules/.cache/berth (BERTH_CACHE_DIR moves them) and can be deleted
// at any time; `npm install` / `npm ci` fill them ahead (`--precompile` below).
"use strict";
const { Buffer } = require("node:buffer");
const crypto = require("node:crypto");
const fs = require("node:fs");
const Module = require("node:module");
const path = require("node:path");
const vm = require("node:vm");

const root = path.resolve(__dirname, "..");
const cacheDir = process.env.BERTH_CACHE_DIR || path.join(root, "node_modules", ".cache", "berth");
const sourceMaps = process.env.BERTH_SOURCE_MAPS === "1";
// Part of every cache key: a new sucrase or new transpile settings never reuse old output.
const settings = `sucrase ${require("sucrase/package.json").version}|typescript,imports|${sourceMaps ? "inline-sourcemap" : "no-sourcemap"}`;

/** Writes a cache file whole or not at all, so a concurrent start never reads half a file. */
function writeAtomically(file, data) {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch {
    // A read-only checkout still runs; it just compiles again next time.
  }
}

let sucrase;
/** The transpiled code of a .ts file, from the cache or freshly made (and cached). */
function transpiled(filename) {
  const source = fs.readFileSync(filename, "utf8");
  const key = crypto.createHash("sha256").update(settings).update("\0").update(filename).update("\0").update(source);
  const cached = path.join(cacheDir, `${key.digest("hex")}.js`);
  try {
    return fs.readFileSync(cached, "utf8");
  } catch {
    sucrase ??= require("sucrase");
    const out = sucrase.transform(source, {
      transforms: ["typescript", "imports"],
      filePath: filename,
      // Node 20 runs ES2022 as written: only types and import/export syntax change.
      disableESTransforms: true,
      production: true,
      ...(sourceMaps ? { sourceMapOptions: { compiledFilename: filename } } : {}),
    });
    let code = out.code;
    if (out.sourceMap) {
      const map = { ...out.sourceMap, sources: [filename], sourcesContent: [source] };
      code += `\n//# sourceMappingURL=data:application/json;base64,${Buffer.from(JSON.stringify(map)).toString("base64")}\n`;
    }
    writeAtomically(cached, code);
    return code;
  }
}

// V8's code cache for every CommonJS module compiled after this point, in one pack file: the
// serialized code of each module, keyed by its path and a hash of its source (V8 itself only
// checks the length). The pack is rewritten, whole, only when a start compiled something new.
const pack = path.join(cacheDir, `v8-${process.version}-${process.arch}.bin`);
const packIndex = `${pack}.json`;
let index = {};
let blob = Buffer.alloc(0);
try {
  index = JSON.parse(fs.readFileSync(packIndex, "utf8"));
  blob = fs.readFileSync(pack);
} catch {
  index = {};
}
/** Scripts compiled without a usable cache entry, serialized at exit: [file, key, script]. */
const fresh = [];

function compileCached(content, filename) {
  const key = crypto.createHash("sha256").update(content).digest("base64");
  const entry = index[filename];
  const cachedData = entry && entry[0] === key ? blob.subarray(entry[1], entry[2]) : undefined;
  const script = new vm.Script(Module.wrap(content), {
    filename,
    cachedData,
    // import() inside a cached module resolves as in any other module.
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  if (!cachedData || script.cachedDataRejected) fresh.push([filename, key, script]);
  return script.runInThisContext({ displayErrors: true });
}

/** The `require` a module receives, as Node builds it (lib/internal/modules/helpers.js). */
function requireFor(mod) {
  const require = (id) => mod.require(id);
  require.resolve = (request, options) => Module._resolveFilename(request, mod, false, options);
  require.resolve.paths = (request) => Module._resolveLookupPaths(request, mod);
  require.main = process.mainModule;
  require.extensions = Module._extensions;
  require.cache = Module._cache;
  return require;
}

function savePack() {
  if (fresh.length === 0) return;
  const parts = [];
  const next = {};
  let offset = 0;
  const add = (file, key, data) => {
    parts.push(data);
    next[file] = [key, offset, offset + data.length];
    offset += data.length;
  };
  for (const [file, key, script] of fresh) add(file, key, script.createCachedData());
  for (const [file, [key, start, end]] of Object.entries(index))
    if (!next[file]) add(file, key, blob.subarray(start, end));
  writeAtomically(pack, Buffer.concat(parts));
  writeAtomically(packIndex, JSON.stringify(next));
}

// With BERTH_SOURCE_MAPS=1 modules compile the ordinary way, so Node reads their source maps.
if (!sourceMaps) {
  const compile = Module.prototype._compile;
  Module.prototype._compile = function (content, filename) {
    // A file starting with #! is a script, not a module body: leave it to Node.
    if (content.startsWith("#!")) return compile.call(this, content, filename);
    const wrapper = compileCached(content, filename);
    return wrapper.call(this.exports, this.exports, requireFor(this), this, filename, path.dirname(filename));
  };
  // Serialized after the run, so the code V8 compiled lazily while running is in the cache too.
  process.once("exit", savePack);
}

require.extensions[".ts"] = (module, filename) => module._compile(transpiled(filename), filename);

// `node start/index.cjs --precompile` (run by `npm install` / `npm ci`) fills both caches, so
// even the first preview on a fresh CI runner finds them full: it transpiles the program and
// loads every module it imports, plus each resource module of the providers (the provider
// packages load those only when a resource type is first used). Loading runs no resource: the
// program is the function index.ts exports. V8 accepts a code cache only under the flags it was
// made with, and the launcher sets one before berth starts (--allow-natives-syntax, in
// @pulumi/pulumi runtime/closure/v8Hooks.js): loading that module here sets the same.
if (process.argv.includes("--precompile")) {
  require("@pulumi/pulumi/runtime/closure/v8Hooks");
  require("./sdk.cjs");
  require(path.join(root, "index.ts"));
  const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
  for (const name of Object.keys(pkg.dependencies)) {
    if (!/^@pulumi\/(?!pulumi$|policy$)/.test(name)) continue;
    // Resource modules sit at the top (hcloud.Server) or one namespace down (command.remote.Command).
    const touch = (exports, depth) => {
      for (const key of Object.keys(exports)) {
        const value = exports[key];
        if (depth < 1 && value && typeof value === "object") touch(value, depth + 1);
      }
    };
    touch(require(name), 0);
  }
  return;
}

// Stack traces in Node's default format: lines are the TypeScript lines (sucrase keeps them),
// columns those of the transpiled code; with BERTH_SOURCE_MAPS=1 Node's own source maps give
// exact positions. Either way the launcher's source-map-support goes: it would map nothing of
// berth's (it reads the .ts file from disk and finds no map there) and costs a source-map
// lookup per frame of every trace.
if (sourceMaps) process.setSourceMapsEnabled(true);
Error.prepareStackTrace = undefined;
const sdk = require("./sdk.cjs");
sdk.deferClosureSerializer();
sdk.skipPromiseTraces();
// Pulumi's launcher (@pulumi/pulumi cmd/run) takes the stack outputs from the exports of the
// module Pulumi.yaml names, so this entry hands on index.ts's exports unchanged.
module.exports = require(path.join(root, "index.ts"));
