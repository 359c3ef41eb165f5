// `pulumi up` and `pulumi refresh` of the stand-in CLI (see pulumi.cjs): lock, render, step
// through the resources with engine events, save state and history, unlock.
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Engine events go to the Automation API's events server (tcp://) or, for older CLIs, a file. */
function eventSink(target) {
  let sequence = 0;
  const stamp = (body) => ({ sequence: sequence++, timestamp: Math.floor(Date.now() / 1000), ...body });
  if (!target) return { send() {}, close: async () => {} };
  if (!target.startsWith("tcp://")) {
    return {
      send: (body) => fs.appendFileSync(target, JSON.stringify(stamp(body)) + "\n"),
      close: async () => {},
    };
  }
  const grpc = require(require.resolve("@grpc/grpc-js", { paths: [require.resolve("@pulumi/pulumi")] }));
  const { EventsClient } = require("@pulumi/pulumi/proto/events_grpc_pb");
  const { EventRequest } = require("@pulumi/pulumi/proto/events_pb");
  const client = new EventsClient(target.slice("tcp://".length), grpc.credentials.createInsecure());
  let done;
  const finished = new Promise((r) => (done = r));
  const call = client.streamEvents(() => done());
  return {
    send: (body) => call.write(new EventRequest().setEvent(JSON.stringify(stamp(body)))),
    close: async () => {
      call.end();
      // Bounded, and unref'd so a finished stream never keeps the process alive.
      await Promise.race([finished, new Promise((r) => setTimeout(r, 2000).unref())]);
      client.close();
    },
  };
}

const SIG = "4dabf18193072939515e22adb298388d";
const SECRET = "1b47061264138c4ac30d75fd1eb44270";
function mask(value) {
  if (Array.isArray(value)) return value.map(mask);
  if (value && typeof value === "object") {
    if (value[SIG] === SECRET) return "[secret]";
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mask(v)]));
  }
  return value;
}

/**
 * What the program declares: berth's program under mocks, or a fixed set for benchmarks. The
 * program is the entry the project's Pulumi.yaml names, loaded as Pulumi's launcher loads it (its
 * exported function called, its result the stack outputs); a stack reference to this very stack
 * reads the outputs of its last update, as the engine answers it.
 */
async function declared(stack, config, state, berthModule) {
  const program = (process.env.BERTH_FAKE_PROGRAM_STACKS || "").split(",").includes(stack);
  if (process.env.BERTH_FAKE_RENDER === "fixed" && !program) {
    const version = config.config["berth:version"] || "0";
    const app = (config.config["berth:service"] || "app").replace(/"/g, "");
    // Versioned steps (image, container) and the route switch to them run on the host.
    const steps = ["host", "firewall", "network", "proxy", `image-${version}`, `web-${version}`, "web-route", "dns"];
    const onHost = (n) => n.includes(version) || n === "web-route";
    return {
      resources: steps.map((n) => ({
        urn: `urn:pulumi:${stack}::berth::berth:fixed:Step::${app}-${n}`,
        type: onHost(n) ? "command:remote:Command" : "berth:fixed:Step",
        name: `${app}-${n}`,
        inputs: { version: onHost(n) ? version : undefined },
      })),
      outputs: { service: { value: app, secret: false }, version: { value: version, secret: false } },
    };
  }
  const render = berthModule("plan/render.ts");
  const previous = state.checkpoint.outputs || {};
  const result = await render.run({
    stack,
    config: config.config,
    secretKeys: config.secretKeys,
    program: () => require(render.programEntry(process.cwd())),
    deployed: Object.keys(previous).length
      ? Object.fromEntries(Object.entries(previous).map(([k, v]) => [k, v.value]))
      : undefined,
  });
  const outputs = {};
  for (const [k, v] of Object.entries(result.exports)) {
    const secret = v && v.isSecret ? await v.isSecret : false;
    if (result.outputs[k] !== undefined) outputs[k] = { value: result.outputs[k], secret };
  }
  return {
    resources: result.resources.map((r) => ({ urn: r.urn, type: r.type, name: r.name, inputs: mask(r.raw) })),
    outputs,
  };
}

exports.run = async function run(kind, opts) {
  const { stack, state, fail } = opts;
  fs.mkdirSync(opts.lockDir, { recursive: true });
  const lockFile = path.join(opts.lockDir, `${crypto.randomUUID()}.json`);
  if (fs.readdirSync(opts.lockDir).length > 0)
    fail(
      `the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with \`pulumi cancel\`.`,
    );
  fs.writeFileSync(lockFile, JSON.stringify({ pid: process.pid, timestamp: new Date().toISOString() }));
  const unlock = () => fs.rmSync(lockFile, { force: true });

  let cancelled = false;
  process.on("SIGINT", () => {
    cancelled = true;
  });
  const version = opts.config.config["berth:version"] || "";
  const stepMs = version.includes("slow")
    ? Number(process.env.BERTH_FAKE_SLOW_MS || 1500)
    : Number(process.env.BERTH_FAKE_STEP_MS || 5);
  const events = eventSink(opts.eventLog);
  const out = (t) => process.stdout.write(t);
  const started = new Date();
  const entry = {
    version: state.history.length + 1,
    kind: kind === "up" ? "update" : "refresh",
    startTime: started.toISOString(),
    message: opts.message || "",
    environment: { "exec.kind": "auto.local" },
    config: Object.fromEntries(
      Object.entries(opts.config.config).map(([k, v]) => [
        k,
        { value: opts.config.secretKeys.includes(k) ? "[secret]" : v, secret: opts.config.secretKeys.includes(k) },
      ]),
    ),
  };
  const finish = async (result, changes, error) => {
    events.send({
      summaryEvent: {
        maybeCorrupt: false,
        durationSeconds: Math.round((Date.now() - started) / 1000),
        resourceChanges: changes,
        policyPacks: {},
      },
    });
    events.send({ cancelEvent: {} });
    await events.close();
    state.history.push({ ...entry, endTime: new Date().toISOString(), result, resourceChanges: changes });
    opts.writeState(state);
    unlock();
    if (error) fail(error);
  };

  out(`${kind === "up" ? "Updating" : "Refreshing"} (${stack}):\n`);
  events.send({ preludeEvent: { config: entry.config } });
  if (kind === "refresh") {
    const cleared = state.checkpoint.pendingOperations.length;
    if (opts.clearPendingCreates) state.checkpoint.pendingOperations = [];
    for (const r of state.checkpoint.resources)
      events.send({ resourcePreEvent: { metadata: { op: "refresh", urn: r.urn, type: r.type, provider: "" } } });
    out(`Resources:\n    ${state.checkpoint.resources.length} unchanged\n`);
    if (cleared && opts.clearPendingCreates) out(`Cleared ${cleared} pending operation(s).\n`);
    return finish("succeeded", { same: state.checkpoint.resources.length });
  }

  if (state.checkpoint.pendingOperations.length > 0) {
    events.send({
      diagnosticEvent: {
        message: `Attempting to deploy or update resources with ${state.checkpoint.pendingOperations.length} pending operations from previous deployment.\n`,
        color: "never",
        severity: "warning",
      },
    });
  }
  let program;
  try {
    program = await declared(stack, opts.config, state, opts.berthModule);
  } catch (err) {
    const message = String((err && err.message) || err);
    events.send({ diagnosticEvent: { message: message + "\n", color: "never", severity: "error" } });
    return finish("failed", {}, `an unhandled error occurred: program failed:\n${message}`);
  }
  const before = new Map(state.checkpoint.resources.map((r) => [r.urn, r]));
  const changes = {};
  const count = (op) => (changes[op] = (changes[op] || 0) + 1);
  const kept = [];
  // Where a broken version fails for real: the switch of kamal-proxy's route (`<app>-<role>-<host>-route`,
  // components/app.ts), whose health check the new container never passes.
  const failAt = version.includes("fail")
    ? (
        program.resources.find((r) => r.type === "command:remote:Command" && r.name.endsWith("-route")) ||
        program.resources[program.resources.length - 1]
      ).urn
    : undefined;
  const plan = [
    ...program.resources.map((r) => {
      const old = before.get(r.urn);
      const op = !old ? "create" : JSON.stringify(old.inputs) === JSON.stringify(r.inputs) ? "same" : "update";
      return { r, op, old };
    }),
    ...state.checkpoint.resources
      .filter((r) => !program.resources.some((p) => p.urn === r.urn))
      .map((r) => ({ r, op: "delete", old: r })),
  ];
  for (const { r, op, old } of plan) {
    if (cancelled) {
      kept.push(
        ...plan
          .filter((p) => p.op === "delete" || !kept.includes(p.r))
          .map((p) => p.old)
          .filter(Boolean),
      );
      events.send({ diagnosticEvent: { message: "update canceled\n", color: "never", severity: "error" } });
      state.checkpoint.resources = dedupe(kept);
      state.checkpoint.pendingOperations = [];
      return finish("failed", changes, "update canceled");
    }
    const metadata = {
      op,
      urn: r.urn,
      type: r.type,
      provider: "",
      old: old ? { type: old.type, urn: old.urn } : undefined,
      new: op === "delete" ? undefined : { type: r.type, urn: r.urn, inputs: r.inputs },
    };
    events.send({ resourcePreEvent: { metadata } });
    if (op !== "same") {
      state.checkpoint.pendingOperations = [
        {
          resource: { urn: r.urn, type: r.type },
          type: op === "delete" ? "deleting" : op === "create" ? "creating" : "updating",
        },
      ];
      opts.writeState(state);
      if (r.type === "command:remote:Command")
        events.send({
          diagnosticEvent: {
            urn: r.urn,
            message: `${r.name}: running on the host\n`,
            color: "never",
            severity: "info",
          },
        });
      await sleep(stepMs);
    }
    if (r.urn === failAt) {
      events.send({ resOpFailedEvent: { metadata, status: 1, steps: 1 } });
      events.send({
        diagnosticEvent: {
          urn: r.urn,
          message: `${r.name}: target failed to become healthy within configured timeout\n`,
          color: "never",
          severity: "error",
        },
      });
      state.checkpoint.resources = dedupe([...kept, ...plan.filter((p) => p.old).map((p) => p.old)]);
      state.checkpoint.pendingOperations = [];
      out(`    ${op === "create" ? "+" : "~"} ${r.type} ${r.name} **${op}ing failed**\n`);
      return finish("failed", changes, "update failed");
    }
    events.send({ resOutputsEvent: { metadata } });
    if (op !== "delete") kept.push(r);
    if (op !== "same") out(`    ${op === "create" ? "+" : op === "delete" ? "-" : "~"} ${r.type} ${r.name} ${op}d\n`);
    count(op);
  }
  state.checkpoint = { resources: kept, outputs: program.outputs, pendingOperations: [] };
  out(
    `Resources:\n${Object.entries(changes)
      .map(([k, n]) => `    ${n} ${k === "same" ? "unchanged" : k + "d"}`)
      .join("\n")}\n`,
  );
  return finish("succeeded", changes);
};

function dedupe(resources) {
  const seen = new Map();
  for (const r of resources) if (r) seen.set(r.urn, r);
  return [...seen.values()];
}
