// A stand-in for the Pulumi engine, so the bench can run berth through Pulumi's own Node.js
// launcher (@pulumi/pulumi cmd/run) exactly as `pulumi preview` / `pulumi up` starts it. The
// launcher talks gRPC to two services of the engine: the resource monitor (registrations,
// reads, invokes) and the engine (logs, root resource). This server answers both with the
// service definitions that ship inside @pulumi/pulumi (proto/*_grpc_pb.js), plausibly: stable
// URNs and ids, outputs = inputs plus the computed fields berth reads (plan/render.ts
// mockStates), every feature the engine of @pulumi/pulumi 3.248 supports.
import * as path from "node:path";
import { MockState, mockStates } from "./render";
import { Properties } from "./properties";

// The gRPC library and message classes the launcher itself uses, from @pulumi/pulumi's tree.
const sdk = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
const grpc = require(require.resolve("@grpc/grpc-js", { paths: [sdk] }));
const resrpc = require(path.join(sdk, "proto", "resource_grpc_pb.js"));
const resproto = require(path.join(sdk, "proto", "resource_pb.js"));
const engrpc = require(path.join(sdk, "proto", "engine_grpc_pb.js"));
const engproto = require(path.join(sdk, "proto", "engine_pb.js"));
const provproto = require(path.join(sdk, "proto", "provider_pb.js"));
const structproto = require("google-protobuf/google/protobuf/struct_pb");
const emptyproto = require("google-protobuf/google/protobuf/empty_pb");

/** What one program run did, as the engine saw it; times in ms on this process's clock. */
export interface MonitorRun {
  registrations: number;
  reads: number;
  invokes: number;
  firstRegistration: number;
  lastRegistration: number;
  /** Messages the program logged at error severity: a failed run names its cause here. */
  errors: string[];
  /** The stack's outputs (the program's exports), as the launcher registered them. */
  outputs: Record<string, unknown>;
}

export interface Monitor {
  /** host:port of both services. */
  address: string;
  /** Starts counting a new run (a new launcher process). */
  reset(): void;
  run(): MonitorRun;
  /** Outputs a stack reference to the stack itself returns (the last update's outputs). */
  deployed: Record<string, unknown>;
  /** Called when the program signals it is done (the launcher's last call, before it exits). */
  onShutdown?: () => void;
  close(): Promise<void>;
}

/** A number derived from a resource's identity, so every run gives the same ids. */
function stableId(urn: string): string {
  let h = 2166136261;
  for (let i = 0; i < urn.length; i++) h = Math.imul(h ^ urn.charCodeAt(i), 16777619) >>> 0;
  return String(h);
}

function urnOf(project: string, stack: string, parent: string, type: string, name: string): string {
  // A child's type is qualified by its parent's, as the engine does (resource/urn.go).
  const qualified = parent ? `${parent.split("::")[2]}$${type}` : type;
  return `urn:pulumi:${stack}::${project}::${qualified}::${name}`;
}

// A gRPC request is a protobuf message of the engine's: read by its getters, like a provider property.
const callback =
  (fn: (req: Properties) => unknown) =>
  (call: { request: Properties }, done: (err: unknown, res?: unknown) => void) => {
    try {
      done(null, fn(call.request));
    } catch (err) {
      done(err);
    }
  };

export async function startMonitor(opts: { project: string; stack: string }): Promise<Monitor> {
  let run: MonitorRun;
  let root = "";
  let mockState: MockState;
  const reset = () => {
    mockState = mockStates();
    run = {
      registrations: 0,
      reads: 0,
      invokes: 0,
      firstRegistration: 0,
      lastRegistration: 0,
      errors: [],
      outputs: {},
    };
    root = "";
  };
  reset();
  const monitor: Monitor = {
    address: "",
    reset,
    run: () => run,
    deployed: {},
    close: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
  };

  const server = new grpc.Server({ "grpc.max_receive_message_length": 400 * 1024 * 1024 });
  server.addService(resrpc.ResourceMonitorService, {
    supportsFeature: callback((req) => {
      const res = new resproto.SupportsFeatureResponse();
      // The engine of this SDK's generation supports every feature the SDK asks about.
      res.setHassupport(true);
      void req;
      return res;
    }),
    registerResource: callback((req) => {
      const now = performance.now();
      run.registrations++;
      run.firstRegistration ||= now;
      run.lastRegistration = now;
      const type: string = req.getType();
      const name: string = req.getName();
      const urn = urnOf(opts.project, opts.stack, req.getParent(), type, name);
      const inputs = req.getObject()?.toJavaScript() ?? {};
      const res = new resproto.RegisterResourceResponse();
      res.setUrn(urn);
      if (req.getCustom()) res.setId(stableId(urn));
      res.setObject(structproto.Struct.fromJavaScript(req.getCustom() ? mockState(type, name, inputs) : {}));
      return res;
    }),
    registerResourceOutputs: callback((req) => {
      if (req.getUrn() === root) run.outputs = req.getOutputs()?.toJavaScript() ?? {};
      return new emptyproto.Empty();
    }),
    readResource: callback((req) => {
      run.reads++;
      const type: string = req.getType();
      const urn = urnOf(opts.project, opts.stack, req.getParent(), type, req.getName());
      const props = req.getProperties()?.toJavaScript() ?? {};
      const state =
        type === "pulumi:pulumi:StackReference"
          ? { name: props.name, outputs: monitor.deployed, secretOutputNames: [] }
          : mockState(type, req.getName(), props);
      const res = new resproto.ReadResourceResponse();
      res.setUrn(urn);
      res.setProperties(structproto.Struct.fromJavaScript(state));
      return res;
    }),
    invoke: callback((req) => {
      run.invokes++;
      const res = new provproto.InvokeResponse();
      res.setReturn(req.getArgs());
      return res;
    }),
    signalAndWaitForShutdown: callback(() => {
      monitor.onShutdown?.();
      return new emptyproto.Empty();
    }),
  });
  server.addService(engrpc.EngineService, {
    log: callback((req) => {
      // Severity 3 is ERROR (proto/engine.proto LogSeverity).
      if (req.getSeverity() === engproto.LogSeverity.ERROR) run.errors.push(req.getMessage());
      return new emptyproto.Empty();
    }),
    getRootResource: callback(() => {
      const res = new engproto.GetRootResourceResponse();
      res.setUrn(root);
      return res;
    }),
    setRootResource: callback((req) => {
      root = req.getUrn();
      return new engproto.SetRootResourceResponse();
    }),
    requirePulumiVersion: callback(() => new engproto.RequirePulumiVersionResponse()),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err: Error | null, p: number) =>
      err ? reject(err) : resolve(p),
    ),
  );
  monitor.address = `127.0.0.1:${port}`;
  return monitor;
}
