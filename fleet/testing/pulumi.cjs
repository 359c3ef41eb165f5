// A stand-in for the Pulumi CLI, for tests and benchmarks of the fleet engine: the real CLI
// cannot be installed here. It answers the commands the Automation API of @pulumi/pulumi 3.248
// runs (automation/localWorkspace.js, stack.js, cmd.js) with the same arguments, exit codes and
// error texts the SDK parses, keeps a stack's state and history in the file backend given by
// PULUMI_BACKEND_URL, encrypts `--secret` config with PULUMI_CONFIG_PASSPHRASE, and during `up`
// renders berth's program in Pulumi's mock runtime (plan/render.ts) and streams one engine event
// per resource over the events gRPC stream (`--event-log tcp://...`, CLI versions after 3.205).
//
// It proves what surrounds the engine, never the engine itself: no provider runs, nothing is
// created anywhere. Behaviour a test needs is asked for through the deployed version:
//   a version containing "fail"  fails the update at the switch of the app's route (its health check),
//   a version containing "slow"  takes BERTH_FAKE_SLOW_MS (default 1500) per resource step,
// otherwise each step takes BERTH_FAKE_STEP_MS (default 5). BERTH_FAKE_RENDER=fixed skips the
// program and steps through a fixed set of eight resources named like berth's (for tests and
// benchmarks of the service around the engine), except for the stacks listed in
// BERTH_FAKE_PROGRAM_STACKS, which still render berth's program.
"use strict";
const { Buffer } = require("node:buffer");
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
// Loaded only by the commands that read or write settings: every command is a process of its own.
const yaml = () => require("yaml");

const VERSION = "3.248.0";
const ROOT = path.resolve(__dirname, "..", "..");
const PROJECT = "berth";
const argv = process.argv.slice(2).filter((a) => a !== "--non-interactive");

/** A module of berth itself (TypeScript, loaded through tsx). */
function berthModule(file) {
  require(path.join(ROOT, "node_modules", "tsx", "dist", "cjs", "api", "index.cjs")).register();
  return require(path.join(ROOT, file));
}

function fail(message, code = 255) {
  process.stderr.write(`error: ${message}\n`);
  process.exit(code);
}
const flag = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const has = (name) => argv.includes(name);

// ---- backend: file://DIR, as `pulumi login file://DIR` keeps it under DIR/.pulumi ----
function backendDir() {
  const url = process.env.PULUMI_BACKEND_URL;
  if (!url || !url.startsWith("file://")) fail("this stand-in only knows file:// backends (set PULUMI_BACKEND_URL)");
  return path.join(url.slice("file://".length), ".pulumi");
}
const stackFile = (stack) => path.join(backendDir(), "stacks", PROJECT, `${stack}.json`);
const lockDir = (stack) => path.join(backendDir(), "locks", "organization", PROJECT, stack);
function readState(stack) {
  try {
    return JSON.parse(fs.readFileSync(stackFile(stack), "utf8"));
  } catch {
    fail(`no stack named '${stack}' found`);
  }
}
function writeState(stack, state) {
  fs.mkdirSync(path.dirname(stackFile(stack)), { recursive: true });
  const tmp = `${stackFile(stack)}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(state, null, 2));
  fs.renameSync(tmp, stackFile(stack));
}

// ---- project and stack settings in the work dir ----
function requireProject() {
  if (!fs.existsSync(path.join(process.cwd(), "Pulumi.yaml")))
    fail("no Pulumi.yaml project file found (searching upwards from " + process.cwd() + ")");
}
const settingsPath = (stack) => path.join(process.cwd(), `Pulumi.${stack}.yaml`);
function readSettings(stack) {
  try {
    return yaml().parse(fs.readFileSync(settingsPath(stack), "utf8")) || {};
  } catch {
    return {};
  }
}
const writeSettings = (stack, s) => fs.writeFileSync(settingsPath(stack), yaml().stringify(s));

// ---- passphrase secrets: AES-256-GCM under a key derived from the passphrase and the stack's salt ----
function passphrase() {
  if (process.env.PULUMI_CONFIG_PASSPHRASE !== undefined) return process.env.PULUMI_CONFIG_PASSPHRASE;
  if (process.env.PULUMI_CONFIG_PASSPHRASE_FILE)
    return fs.readFileSync(process.env.PULUMI_CONFIG_PASSPHRASE_FILE, "utf8").trim();
  fail(
    'constructing secrets manager of type "passphrase": passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables',
  );
}
// Not the CLI's ciphertext format: only what the fleet relies on (secrets opaque without the
// passphrase, a wrong one refused). The key is derived cheaply, once per process.
const keys = new Map();
function keyFor(settings) {
  const salt = settings.encryptionsalt;
  if (!keys.has(salt))
    keys.set(salt, crypto.scryptSync(passphrase(), Buffer.from(salt.split(":")[1], "base64"), 32, { N: 1024 }));
  return keys.get(salt);
}
function encrypt(settings, text) {
  const iv = crypto.randomBytes(12);
  const c = crypto.createCipheriv("aes-256-gcm", keyFor(settings), iv);
  const body = Buffer.concat([c.update(text, "utf8"), c.final(), c.getAuthTag()]);
  return `v1:${iv.toString("base64")}:${body.toString("base64")}`;
}
function decrypt(settings, value) {
  const [, iv, body] = value.split(":");
  const data = Buffer.from(body, "base64");
  const d = crypto.createDecipheriv("aes-256-gcm", keyFor(settings), Buffer.from(iv, "base64"));
  d.setAuthTag(data.subarray(data.length - 16));
  try {
    return Buffer.concat([d.update(data.subarray(0, data.length - 16)), d.final()]).toString("utf8");
  } catch {
    fail("incorrect passphrase");
  }
}
const isSecure = (v) => v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1 && "secure" in v;

/**
 * The stack's config as the engine hands it to a program: key -> string, plus the secret keys. The
 * settings file is read the way the CLI reads it (config/yaml.ts: yaml.v3's scalar types, keys
 * without a namespace in the project's), so the program sees the same strings `pulumi up` gives it.
 */
function engineConfig(stack) {
  const settings = readSettings(stack);
  let text;
  try {
    text = fs.readFileSync(settingsPath(stack), "utf8");
  } catch {
    return { config: {}, secretKeys: [] };
  }
  const { readPulumiYaml, engineText } = berthModule("config/yaml.ts");
  const parsed = readPulumiYaml(text);
  if (parsed.problems.length > 0)
    fail(
      `could not read Pulumi.${stack}.yaml: ${parsed.problems.map((p) => `${p.line}:${p.col}: ${p.message}`).join("; ")}`,
    );
  const config = {};
  const secretKeys = [];
  for (const { key: written, value } of parsed.config) {
    const key = written.includes(":") ? written : `${PROJECT}:${written}`;
    let secret = false;
    const open = (v) => {
      if (isSecure(v)) {
        secret = true;
        return decrypt(settings, v.secure);
      }
      if (Array.isArray(v)) return v.map(open);
      if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, open(x)]));
      return v;
    };
    config[key] = engineText(open(value));
    if (secret) secretKeys.push(key);
  }
  return { config, secretKeys };
}

function setConfig(stack, key, value, secret, usePath) {
  const settings = readSettings(stack);
  settings.config = settings.config || {};
  const stored = secret ? { secure: encrypt(settings, value) } : value;
  if (usePath && key.includes(".")) {
    const [top, ...rest] = key.split(".");
    let node = (settings.config[top] =
      settings.config[top] && typeof settings.config[top] === "object" ? settings.config[top] : {});
    for (const part of rest.slice(0, -1))
      node = node[part] = node[part] && typeof node[part] === "object" ? node[part] : {};
    node[rest[rest.length - 1]] = stored;
  } else settings.config[key] = stored;
  writeSettings(stack, settings);
}

// ---- commands ----
const stack = flag("--stack");
const [a, b] = argv;

if (a === "version") {
  process.stdout.write(`v${VERSION}\n`);
} else if (a === "stack" && b === "select") {
  readState(stack);
} else if (a === "stack" && b === "init") {
  requireProject();
  const name = argv[2];
  if (fs.existsSync(stackFile(name))) fail(`stack '${name}' already exists`);
  writeState(name, { checkpoint: { resources: [], outputs: {}, pendingOperations: [] }, history: [] });
  const settings = readSettings(name);
  settings.encryptionsalt = `v1:${crypto.randomBytes(8).toString("base64")}:stand-in`;
  writeSettings(name, settings);
} else if (a === "config" && (b === "set-all" || b === "set")) {
  readState(stack);
  const usePath = has("--path");
  if (b === "set") {
    const rest = argv.slice(2);
    const key = rest[0];
    const value = rest[rest.indexOf("--") + 1];
    setConfig(stack, key, value, has("--secret"), usePath);
  } else {
    for (let i = 2; i < argv.length; i++) {
      if (argv[i] !== "--plaintext" && argv[i] !== "--secret") continue;
      const pair = argv[++i];
      const eq = pair.indexOf("=");
      setConfig(stack, pair.slice(0, eq), pair.slice(eq + 1), argv[i - 1] === "--secret", usePath);
    }
  }
} else if (a === "config" && (b === "rm" || b === "rm-all")) {
  readState(stack);
  const settings = readSettings(stack);
  const keys = argv.slice(2).filter((x, i, all) => !x.startsWith("--") && all[i - 1] !== "--stack");
  for (const key of keys) {
    const [top, ...rest] = has("--path") ? key.split(".") : [key];
    let node = settings.config || {};
    let name = top;
    for (const part of rest) {
      node = node[name] && typeof node[name] === "object" ? node[name] : {};
      name = part;
    }
    delete node[name];
  }
  writeSettings(stack, settings);
} else if (a === "config" && argv.includes("--json")) {
  const { config, secretKeys } = engineConfig(stack);
  const out = {};
  for (const [k, v] of Object.entries(config))
    out[k] = {
      value: secretKeys.includes(k) && !has("--show-secrets") ? "[secret]" : v,
      secret: secretKeys.includes(k),
    };
  process.stdout.write(JSON.stringify(out, null, 2) + "\n");
} else if (a === "stack" && b === "history") {
  const state = readState(stack);
  let list = [...state.history].reverse();
  const size = Number(flag("--page-size") || 0);
  if (size) list = list.slice((Number(flag("--page") || 1) - 1) * size, Number(flag("--page") || 1) * size);
  process.stdout.write(JSON.stringify(list, null, 2) + "\n");
} else if (a === "stack" && b === "output") {
  const state = readState(stack);
  const out = {};
  for (const [k, v] of Object.entries(state.checkpoint.outputs || {}))
    out[k] = v.secret && !has("--show-secrets") ? "[secret]" : v.value;
  process.stdout.write(JSON.stringify(out, null, 2) + "\n");
} else if (a === "cancel") {
  readState(stack);
  const dir = lockDir(stack);
  const locks = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  if (locks.length === 0) fail(`stack '${stack}' has no update in progress`);
  fs.rmSync(dir, { recursive: true, force: true });
  process.stdout.write(`The currently running update for '${stack}' has been canceled!\n`);
} else if (a === "up" || a === "refresh") {
  requireProject();
  require("./update.cjs").run(a, {
    stack,
    message: flag("--message"),
    eventLog: flag("--event-log"),
    clearPendingCreates: has("--clear-pending-creates"),
    state: readState(stack),
    config: engineConfig(stack),
    berthModule,
    writeState: (s) => writeState(stack, s),
    lockDir: lockDir(stack),
    fail,
  });
} else {
  fail(`unknown command: pulumi ${argv.join(" ")}`);
}
