// Two costs the Pulumi SDK puts on every program for features berth does not use, taken off
// without changing what the SDK does for a program that uses them. Used by berth's entry
// (start/index.cjs) and by the offline renderer (plan/render.ts).
"use strict";
const Module = require("node:module");
const path = require("node:path");

// The Pulumi SDK's index loads, eagerly, two large packages that only serializing a JavaScript
// function into a resource needs (runtime/closure: parseFunction.js, codePaths.js): the
// TypeScript compiler (9 MB) and npm's arborist (~300 modules). berth serializes no function,
// so each is loaded when first used instead: its module stands in as a proxy that requires the
// real package on first touch and forwards everything to it.
function deferred(id) {
  const sdk = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
  let filename;
  try {
    filename = require.resolve(id, { paths: [sdk] });
  } catch {
    return;
  }
  if (Module._cache[filename]) return;
  let real;
  const load = () => {
    if (real === undefined) {
      delete Module._cache[filename];
      real = require(filename);
    }
    return real;
  };
  const exports = new Proxy(
    {},
    {
      get(_, key) {
        // What TypeScript's __importStar asks before copying every key: answered without loading.
        if (key === "__esModule") return true;
        if (key === "default") return exports;
        return Reflect.get(load(), key);
      },
      has: (_, key) => Reflect.has(load(), key),
      ownKeys: () => Reflect.ownKeys(load()),
      getOwnPropertyDescriptor: (_, key) => {
        const found = Reflect.getOwnPropertyDescriptor(load(), key);
        return found && { ...found, configurable: true };
      },
      set: (_, key, value) => Reflect.set(load(), key, value),
    },
  );
  const stand = new Module(filename, module);
  stand.filename = filename;
  stand.loaded = true;
  stand.exports = exports;
  Module._cache[filename] = stand;
}

/** Defers the TypeScript compiler and npm's arborist, which only function serialization uses. */
function deferClosureSerializer() {
  deferred("typescript");
  deferred("@npmcli/arborist");
}

// The Pulumi SDK wraps each of its promises (about 70 per resource on the production example:
// several per output property of every resource, plus the registration's) in debuggablePromise,
// which records `new Error().stack` on it: a trace of ten frames, formatted and kept as long as
// the promise, that only PULUMI_DEBUG_PROMISE_LEAKS ever prints (runtime/debuggable.js). berth
// calls it with no frames to record unless that variable is set; all else it does (the promise's
// id and label, the leak check at exit) is unchanged. A stack trace anywhere else keeps its frames.
function skipPromiseTraces() {
  if (process.env.PULUMI_DEBUG_PROMISE_LEAKS) return;
  const debuggable = require("@pulumi/pulumi/runtime/debuggable");
  const debuggablePromise = debuggable.debuggablePromise;
  debuggable.debuggablePromise = function (promise, label) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return debuggablePromise(promise, label);
    } finally {
      Error.stackTraceLimit = limit;
    }
  };
}

module.exports = { deferClosureSerializer, skipPromiseTraces };
