// Runs berth code in Pulumi's mock runtime and records every resource registration with the
// options that matter (protect, ignoreChanges, dependencies, ...), which plain mocks hide.
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { readStackFile } from "../config/load";

const SIG = pulumi.runtime.specialSigKey;
const SECRET = pulumi.runtime.specialSecretSig;

export interface Recorded {
  type: string;
  name: string;
  urn: string;
  parent: string;
  custom: boolean;
  /** Inputs with secrets unwrapped. */
  inputs: Record<string, any>;
  /** Inputs as sent to the engine: secret values wrapped in Pulumi's secret envelope. */
  raw: Record<string, any>;
  protect: boolean;
  ignoreChanges: string[];
  retainOnDelete: boolean;
  deleteBeforeReplace: boolean;
  replaceOnChanges: string[];
  /** URNs this resource depends on, explicitly or through its inputs. */
  dependencies: string[];
  /** For each input, the URNs whose outputs flow into it. */
  propertyDependencies: Record<string, string[]>;
  provider: string;
}

export interface RunResult {
  resources: Recorded[];
  outputs: Record<string, any>;
  /** What the program returned (its exports), Outputs unresolved, so secrets keep their mark. */
  exports: Record<string, any>;
}

/** A number derived from a resource's identity, so two renders of one program give equal ids. */
function stableNumber(text: string): number {
  let h = 2166136261;
  for (const ch of text) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return h % 100000;
}

/** Plausible computed state for the resources whose outputs berth reads. */
function mockState(type: string, name: string, inputs: Record<string, any>): Record<string, any> {
  const n = stableNumber(`${type}::${name}`);
  switch (type) {
    case "hcloud:index/primaryIp:PrimaryIp":
      return { ...inputs, ipAddress: inputs.type === "ipv6" ? `2001:db8:${n.toString(16)}::` : `203.0.113.${n % 250}` };
    case "docker:index/remoteImage:RemoteImage":
      return { ...inputs, imageId: `sha256:${n.toString(16).padStart(64, "0")}` };
    case "docker:index/image:Image":
      return {
        ...inputs,
        repoDigest: `${String(inputs.imageName).split(":")[0]}@sha256:${n.toString(16).padStart(64, "0")}`,
      };
    case "hcloud:index/server:Server":
      return {
        ...inputs,
        ipv6Address: `2001:db8:${n.toString(16)}::1`,
        networks: (inputs.networks ?? []).map((net: any) => ({ ...net, ip: net.ip ?? `10.0.1.${100 + (n % 150)}` })),
      };
    case "hcloud:index/loadBalancer:LoadBalancer":
      return { ...inputs, ipv4: `198.51.100.${n % 250}`, ipv6: `2001:db8:ffff::${n.toString(16)}` };
    default:
      return inputs;
  }
}

function unwrap(value: any): any {
  if (Array.isArray(value)) return value.map(unwrap);
  if (value && typeof value === "object") {
    if (value[SIG] === SECRET) return unwrap(value.value);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrap(v)]));
  }
  return value;
}

/**
 * Runs `program` under mocks with the given engine-style config and returns what it
 * registered. Settles by waiting until no registration arrived for a while.
 */
export async function run(opts: {
  stack: string;
  config?: Record<string, string>;
  secretKeys?: string[];
  program: () => unknown;
}): Promise<RunResult> {
  const resources: Recorded[] = [];
  pulumi.runtime.setAllConfig(opts.config ?? {}, opts.secretKeys ?? []);
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => ({
        id: args.custom === false ? undefined : String(stableNumber(`${args.type}::${args.name}`)),
        state: mockState(args.type, args.name, args.inputs),
      }),
      call: (args) => args.inputs,
    },
    "berth",
    opts.stack,
    false,
  );
  const monitor = pulumi.runtime.getMonitor() as any;
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, callback: any) => {
    const raw = req.getObject()?.toJavaScript() ?? {};
    const deps = new Set<string>(req.getDependenciesList());
    const propertyDependencies: Record<string, string[]> = {};
    req.getPropertydependenciesMap().forEach((v: any, key: string) => {
      propertyDependencies[key] = v.getUrnsList();
      v.getUrnsList().forEach((u: string) => deps.add(u));
    });
    resources.push({
      type: req.getType(),
      name: req.getName(),
      urn: "",
      parent: req.getParent(),
      custom: req.getCustom(),
      inputs: unwrap(raw),
      raw,
      protect: req.getProtect() ?? false,
      ignoreChanges: req.getIgnorechangesList(),
      retainOnDelete: req.getRetainondelete() ?? false,
      deleteBeforeReplace: req.getDeletebeforereplace(),
      replaceOnChanges: req.getReplaceonchangesList(),
      dependencies: [...deps],
      propertyDependencies,
      provider: req.getProvider(),
    });
    const entry = resources[resources.length - 1];
    return original(req, (err: any, res: any) => {
      if (res) entry.urn = res.getUrn();
      callback(err, res);
    });
  };

  let outputs: any;
  let exports: any;
  try {
    exports = await opts.program();
    outputs = await resolve(exports);
  } catch (err) {
    await settle(resources);
    throw Object.assign(err as Error, { registered: resources.length });
  }
  await settle(resources);
  return { resources, outputs: outputs ?? {}, exports: exports ?? {} };
}

/** Waits until no registration has arrived for a while and every one has its URN. */
async function settle(resources: Recorded[]): Promise<void> {
  let stable = 0;
  let count = -1;
  while (stable < 25) {
    await new Promise((r) => setTimeout(r, 2));
    if (resources.length === count && resources.every((r) => r.urn)) stable++;
    else {
      stable = 0;
      count = resources.length;
    }
  }
}

/** Resolves Outputs (and promises) nested anywhere in a value. */
export async function resolve(value: any): Promise<any> {
  if (pulumi.Output.isInstance(value)) return resolve(await new Promise((r) => value.apply(r)));
  if (value && typeof value.then === "function") return resolve(await value);
  if (Array.isArray(value)) return Promise.all(value.map(resolve));
  if (value && typeof value === "object" && !(value instanceof pulumi.Resource)) {
    const entries = await Promise.all(Object.entries(value).map(async ([k, v]) => [k, await resolve(v)] as const));
    return Object.fromEntries(entries);
  }
  return value;
}

/** A value a test can await: the plain value of an Output. */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((r) => output.apply(r));
}

export const ROOT = path.resolve(__dirname, "..");

/** Test stand-in for each encrypted value of a stack file, distinct per config path. */
export const testSecret = (p: string) => `test-secret-value-for-${p}`;

/**
 * The secrets each example stack names. They are never committed: the README tells users to
 * set them, and the tests set these stand-ins the same way (`berth:secrets`, a secret key).
 */
export const EXAMPLE_SECRETS: Record<string, string[]> = {
  staging: ["KAMAL_REGISTRY_PASSWORD", "RAILS_MASTER_KEY", "LITESTREAM_ACCESS_KEY_ID", "LITESTREAM_SECRET_ACCESS_KEY"],
  production: ["KAMAL_REGISTRY_PASSWORD", "RAILS_MASTER_KEY", "POSTGRES_PASSWORD"],
};

/** Loads a real Pulumi.<stack>.yaml plus its secrets, optionally changed, as the engine would pass it. */
export function stackConfig(stack: string, change?: (config: Record<string, unknown>) => void) {
  const file = readStackFile(path.join(ROOT, `Pulumi.${stack}.yaml`), testSecret);
  if (!file.config["berth:secrets"]) {
    const secrets = Object.fromEntries(
      (EXAMPLE_SECRETS[stack] ?? []).map((n) => [n, testSecret(`berth:secrets.${n}`)]),
    );
    file.config["berth:secrets"] = JSON.stringify(secrets);
    file.secretKeys.push("berth:secrets");
  }
  if (!change) return file;
  const decoded: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(file.config))
    decoded[k] = v.startsWith("{") || v.startsWith("[") ? JSON.parse(v) : v;
  change(decoded);
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(decoded)) {
    if (v === undefined) continue;
    config[k] = typeof v === "string" ? v : JSON.stringify(v);
  }
  return { config, secretKeys: file.secretKeys };
}

/**
 * Runs index.ts, the real program, under mocks. Project modules are loaded afresh each time so
 * one test process can render several stacks.
 */
export async function runIndex(stack: string, file: { config: Record<string, string>; secretKeys: string[] }) {
  return run({
    stack,
    config: file.config,
    secretKeys: file.secretKeys,
    program: () => {
      for (const key of Object.keys(require.cache)) {
        if (
          key.startsWith(ROOT) &&
          !key.includes(`${path.sep}node_modules${path.sep}`) &&
          !key.includes(`${path.sep}test${path.sep}`)
        ) {
          delete require.cache[key];
        }
      }
      return require(path.join(ROOT, "index.ts"));
    },
  });
}

export const byType = (resources: Recorded[], type: string) => resources.filter((r) => r.type === type);
export const named = (resources: Recorded[], name: string) => {
  const found = resources.find((r) => r.name === name);
  if (!found) throw new Error(`no resource named ${name}; have: ${resources.map((r) => r.name).join(", ")}`);
  return found;
};

export interface RenderDiff {
  created: Recorded[];
  deleted: Recorded[];
  /** Same URN, different inputs. */
  changed: Recorded[];
  same: Recorded[];
}

/** Compares two renders of a program resource by resource (URN), on their inputs. */
export function diffRenders(before: Recorded[], after: Recorded[]): RenderDiff {
  const old = new Map(before.map((r) => [r.urn, r]));
  const out: RenderDiff = { created: [], deleted: [], changed: [], same: [] };
  for (const r of after) {
    const prev = old.get(r.urn);
    if (!prev) out.created.push(r);
    else if (JSON.stringify(prev.raw) !== JSON.stringify(r.raw)) out.changed.push(r);
    else out.same.push(r);
  }
  const now = new Set(after.map((r) => r.urn));
  out.deleted = before.filter((r) => !now.has(r.urn));
  return out;
}

/** URNs a resource depends on, directly or through other resources, within one render. */
export function transitiveDependencies(resources: Recorded[], start: Recorded): Set<string> {
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const seen = new Set<string>();
  const queue = [...start.dependencies];
  while (queue.length) {
    const urn = queue.pop()!;
    if (seen.has(urn)) continue;
    seen.add(urn);
    const r = byUrn.get(urn);
    if (r) queue.push(...r.dependencies);
  }
  return seen;
}
