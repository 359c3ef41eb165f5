// Longer than 400 lines: the mock runtime, the registration recorder and the render diff that berth plan and the tests share.
// Renders a berth program offline: runs it in Pulumi's mock runtime and records every resource
// registration with the options that matter (protect, ignoreChanges, dependencies, ...), which
// plain mocks hide. `berth plan` and the tests share it.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { readStackFile, StackFile } from "../config/load";
import { Properties } from "./properties";
import type { Alias } from "@pulumi/pulumi/proto/alias_pb";
import { aliasUrns } from "./urn";

// Renders skip the stack trace the SDK records on each of its promises, as `pulumi up` does
// through berth's entry (start/sdk.cjs): most of the time a render takes, for a leak report
// only PULUMI_DEBUG_PROMISE_LEAKS prints.
(require("../start/sdk.cjs") as { skipPromiseTraces(): void }).skipPromiseTraces();

const SIG = pulumi.runtime.specialSigKey;
const STACK_REFERENCE = "pulumi:pulumi:StackReference";
const SECRET = pulumi.runtime.specialSecretSig;

export interface Recorded {
  type: string;
  name: string;
  urn: string;
  parent: string;
  custom: boolean;
  /** Inputs with secrets unwrapped. */
  inputs: Properties;
  /** Inputs as sent to the engine: secret values wrapped in Pulumi's secret envelope. */
  raw: Properties;
  protect: boolean;
  ignoreChanges: string[];
  retainOnDelete: boolean;
  deleteBeforeReplace: boolean;
  /** Whether the program set deleteBeforeReplace at all: set to false, it overrides the provider's choice. */
  deleteBeforeReplaceDefined: boolean;
  /** URN of the resource whose deletion deletes this one too (its own delete is skipped then). */
  deletedWith: string;
  replaceOnChanges: string[];
  /** URNs this resource depends on, explicitly or through its inputs. */
  dependencies: string[];
  /** For each input, the URNs whose outputs flow into it. */
  propertyDependencies: Record<string, string[]>;
  provider: string;
  /** The URNs the resource's aliases stand for: where existing stacks may hold it. */
  aliases: string[];
  /** The state the mock provider answered with: the outputs a real provider would compute. */
  outputs?: Properties;
}

export interface RunResult {
  resources: Recorded[];
  outputs: Properties;
  /** What the program returned (its exports), Outputs unresolved, so secrets keep their mark. */
  exports: Properties;
}

/** A 32-bit hash of a resource's identity (FNV-1a), so two renders of one program agree. */
function stableHash(text: string): number {
  let h = 2166136261;
  for (const ch of text) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return h;
}

/** A number derived from a resource's identity, so two renders of one program give equal ids. */
const stableNumber = (text: string) => stableHash(text) % 100000;

/** A real ed25519 public key, derived from `seed`, in OpenSSH's `ssh-ed25519 AAAA...` form. */
function ed25519PublicKey(seed: string): string {
  const pkcs8 = Buffer.concat([
    Buffer.from("302e020100300506032b657004220420", "hex"),
    crypto.createHash("sha256").update(seed).digest(),
  ]);
  const spki = crypto
    .createPublicKey(crypto.createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" }))
    .export({ format: "der", type: "spki" });
  const field = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([field(Buffer.from("ssh-ed25519")), field(spki.subarray(-32))]).toString("base64")}`;
}

/** The value Pulumi's runtime treats as unknown: what a preview knows of a computed output. */
export const UNKNOWN = pulumi.runtime.unknownValue;

/**
 * Computed state a preview cannot know, for a resource about to be created: every field the
 * provider fills in (ids, addresses, digests) is unknown, as `pulumi preview` shows it.
 */
function unknownState(known: Properties, inputs: Properties): Properties {
  return Object.fromEntries(Object.entries(known).map(([k, v]) => [k, k in inputs && k !== "networks" ? v : UNKNOWN]));
}

/** The computed state of a resource, from its type, name and inputs. */
export type MockState = (type: string, name: string, inputs: Properties) => Properties;

/**
 * Plausible computed state for the resources whose outputs berth reads, for one render. Each
 * address comes from the resource's identity, so a resource keeps it from one render to the
 * next, and is unique within the render: two resources whose identities hash alike get the
 * next free address, so no two hosts ever share one, however many there are.
 */
export function mockStates(): MockState {
  const owners = new Map<string, string>();
  const address = (owner: string, hash: number, size: number, format: (slot: number) => string) => {
    for (let i = 0; ; i++) {
      const candidate = format((hash + i) % size);
      const taken = owners.get(candidate);
      if (taken === undefined || taken === owner) {
        owners.set(candidate, owner);
        return candidate;
      }
    }
  };
  const hex = (slot: number) => `${(slot >>> 16).toString(16)}:${(slot & 0xffff).toString(16)}`;
  // Public: 198.18.0.0/15 (RFC 2544, for benchmarks) and documentation IPv6. Private: in the
  // default subnet 10.0.1.0/24 while it has room, then the next /24s of 10.0.0.0/16.
  const ipv4 = (owner: string, h: number) =>
    address(owner, h, 1 << 17, (slot) => `198.${18 + (slot >>> 16)}.${(slot >>> 8) & 255}.${slot & 255}`);
  const ipv6 = (owner: string, h: number) => address(owner, h, 2 ** 32, (slot) => `2001:db8:${hex(slot)}::`);
  const privateIp = (owner: string, h: number) =>
    address(owner, h % 253, 253 * 254, (slot) => `10.0.${1 + Math.floor(slot / 253)}.${2 + (slot % 253)}`);

  return (type, name, inputs) => {
    const id = `${type}::${name}`;
    const h = stableHash(id);
    const n = h % 100000;
    switch (type) {
      case "hcloud:index/primaryIp:PrimaryIp":
        return { ...inputs, ipAddress: inputs.type === "ipv6" ? ipv6(id, h) : ipv4(id, h) };
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
          ipv6Address: `${ipv6(id, h)}1`,
          networks: (inputs.networks ?? []).map((net: Properties) => ({ ...net, ip: net.ip ?? privateIp(id, h) })),
        };
      case "tls:index/privateKey:PrivateKey":
        return {
          ...inputs,
          publicKeyOpenssh: `${ed25519PublicKey(id)}\n`,
          privateKeyOpenssh:
            "-----BEGIN OPENSSH PRIVATE KEY-----\n(rendered offline)\n-----END OPENSSH PRIVATE KEY-----\n",
          privateKeyPem: "-----BEGIN PRIVATE KEY-----\n(rendered offline)\n-----END PRIVATE KEY-----\n",
        };
      case "tls:index/certRequest:CertRequest":
        return {
          ...inputs,
          certRequestPem: `-----BEGIN CERTIFICATE REQUEST-----\n(rendered offline: ${n})\n-----END CERTIFICATE REQUEST-----\n`,
        };
      case "cloudflare:index/originCaCertificate:OriginCaCertificate":
        return {
          ...inputs,
          certificate: `-----BEGIN CERTIFICATE-----\n(rendered offline: ${n})\n-----END CERTIFICATE-----\n`,
        };
      case "hcloud:index/loadBalancer:LoadBalancer":
        return { ...inputs, ipv4: ipv4(id, h), ipv6: `${ipv6(id, h)}1` };
      default:
        return inputs;
    }
  };
}

function unwrap(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrap);
  if (value && typeof value === "object") {
    const envelope = value as Properties;
    if (envelope[SIG] === SECRET) return unwrap(envelope.value);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrap(v)]));
  }
  return value;
}

// Pulumi formats a stack trace for every resource and many of its promises; where Node maps
// them through source maps (tsx turns that on for the tests and the CLI) that is most of the
// time a render takes, for traces nobody reads. A render turns mapping off while the program
// runs (one counter for renders that overlap) and back on after; modules load with it on, so
// an error formatted later still names its .ts line.
let rendering = 0;
let mapsWereOn = false;
function mapStackTraces(during: boolean) {
  if (during) {
    if (rendering++ === 0) {
      mapsWereOn = process.sourceMapsEnabled;
      process.setSourceMapsEnabled(false);
    }
  } else if (--rendering === 0) process.setSourceMapsEnabled(mapsWereOn);
}

/** The project of every render: the name in Pulumi.yaml. */
export const PROJECT = "berth";

/**
 * Runs `program` under mocks with the given engine-style config and returns what it
 * registered. Settles by waiting until no registration arrived for a while.
 */
export async function run(opts: {
  stack: string;
  config?: Record<string, string>;
  secretKeys?: string[];
  program: () => unknown;
  /** The outputs of the stack's last update, as a stack reference reads them; none: never deployed. */
  deployed?: Record<string, unknown>;
  /** Outputs of other stacks by the name a stack reference gives (berth:attach's server stack). */
  references?: Record<string, Record<string, unknown>>;
  /** Render as a preview of a new stack: ids and other computed outputs are unknown. */
  unknowns?: boolean;
}): Promise<RunResult> {
  const resources: Recorded[] = [];
  const answered = new Map<string, Properties>();
  const mockState = mockStates();
  pulumi.runtime.setAllConfig(opts.config ?? {}, opts.secretKeys ?? []);
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        const state =
          args.type === STACK_REFERENCE
            ? { name: args.inputs.name, outputs: referenced(args.inputs.name), secretOutputNames: [] }
            : opts.unknowns
              ? unknownState(mockState(args.type, args.name, args.inputs), args.inputs)
              : mockState(args.type, args.name, args.inputs);
        answered.set(`${args.type}::${args.name}`, state);
        return {
          // No id (an empty one on the wire) is how the runtime learns an id is not known yet.
          id: args.custom === false || opts.unknowns ? undefined : String(stableNumber(`${args.type}::${args.name}`)),
          state,
        };
      },
      call: (args) => invokeResult(args.token, args.inputs),
    },
    PROJECT,
    opts.stack,
    !!opts.unknowns,
    // What the diy backends (file://, s3://) call every organization.
    "organization",
  );
  const monitor = pulumi.runtime.getMonitor() as unknown as Monitor;
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    const raw = req.getObject()?.toJavaScript() ?? {};
    const deps = new Set<string>(req.getDependenciesList());
    const propertyDependencies: Record<string, string[]> = {};
    req.getPropertydependenciesMap().forEach((v, key) => {
      propertyDependencies[key] = v.getUrnsList();
      v.getUrnsList().forEach((u: string) => deps.add(u));
    });
    resources.push({
      type: req.getType(),
      name: req.getName(),
      urn: "",
      parent: req.getParent(),
      custom: req.getCustom(),
      inputs: unwrap(raw) as Properties,
      raw,
      protect: req.getProtect() ?? false,
      ignoreChanges: req.getIgnorechangesList(),
      retainOnDelete: req.getRetainondelete() ?? false,
      deleteBeforeReplace: req.getDeletebeforereplace(),
      deleteBeforeReplaceDefined: req.getDeletebeforereplacedefined(),
      deletedWith: req.getDeletedwith(),
      replaceOnChanges: req.getReplaceonchangesList(),
      dependencies: [...deps],
      propertyDependencies,
      provider: req.getProvider(),
      aliases: aliasUrns(req.getAliasesList(), {
        stack: opts.stack,
        project: PROJECT,
        parent: req.getParent(),
        type: req.getType(),
        name: req.getName(),
      }),
    });
    const entry = resources[resources.length - 1];
    return original(req, (err, res) => {
      if (res) entry.urn = res.getUrn();
      callback(err, res);
    });
  };

  /** A stack reference to this stack reads its last outputs; to another, that stack's. */
  function referenced(name: string): Record<string, unknown> {
    const own = name === opts.stack || name.endsWith(`/${opts.stack}`);
    return opts.references?.[name] ?? (own ? opts.deployed : undefined) ?? {};
  }

  let outputs: unknown;
  let exports: unknown;
  let running = false;
  try {
    // Loading keeps source maps on, so the program's modules keep them for later traces.
    exports = await opts.program();
    mapStackTraces(true);
    running = true;
    // Pulumi's launcher calls an exported function and awaits it (@pulumi/pulumi cmd/run/run.js).
    if (typeof exports === "function") exports = await exports();
    outputs = await resolve(exports);
    await settle(resources);
  } catch (err) {
    await settle(resources);
    throw Object.assign(err as Error, { registered: resources.length });
  } finally {
    if (running) mapStackTraces(false);
  }
  await settle(resources);
  for (const r of resources) r.outputs = answered.get(`${r.type}::${r.name}`);
  return { resources, outputs: (outputs ?? {}) as Properties, exports: (exports ?? {}) as Properties };
}

/** What the data sources berth calls answer offline: a Cloudflare zone looked up by name. */
function invokeResult(token: string, inputs: Properties): Properties {
  if (token === "cloudflare:index/getZone:getZone") {
    const name = String(inputs.filter?.name ?? "");
    const id = crypto.createHash("sha256").update(name).digest("hex").slice(0, 32);
    return { ...inputs, id, zoneId: id, name };
  }
  return inputs;
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
export async function resolve(value: unknown): Promise<unknown> {
  if (pulumi.Output.isInstance(value)) {
    // An unknown output (a preview of a new stack) never runs apply: ask whether it is known first.
    const output = value as unknown as { isKnown: Promise<boolean>; promise(withUnknowns?: boolean): Promise<unknown> };
    if (!(await output.isKnown)) return UNKNOWN;
    return resolve(await output.promise());
  }
  const thenable = value as PromiseLike<unknown> | undefined;
  if (thenable && typeof thenable.then === "function") return resolve(await thenable);
  if (Array.isArray(value)) return Promise.all(value.map(resolve));
  if (value && typeof value === "object" && !(value instanceof pulumi.Resource)) {
    const entries = await Promise.all(Object.entries(value).map(async ([k, v]) => [k, await resolve(v)] as const));
    return Object.fromEntries(entries);
  }
  return value;
}

/** The parts of the engine's RegisterResourceRequest (a protobuf message) the recorder reads. */
interface RegisterRequest {
  getObject(): { toJavaScript(): Properties } | undefined;
  getDependenciesList(): string[];
  getPropertydependenciesMap(): { forEach(f: (urns: { getUrnsList(): string[] }, key: string) => void): void };
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getProtect(): boolean | undefined;
  getIgnorechangesList(): string[];
  getRetainondelete(): boolean | undefined;
  getDeletebeforereplace(): boolean;
  getDeletebeforereplacedefined(): boolean;
  getDeletedwith(): string;
  getReplaceonchangesList(): string[];
  getProvider(): string;
  getAliasesList(): Alias[];
}

/** The engine's monitor, as the SDK's mocks answer it: the one call the recorder wraps. */
interface Monitor {
  registerResource(req: RegisterRequest, callback: (err: Error | null, res?: { getUrn(): string }) => void): unknown;
}

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

/**
 * Reads Pulumi.<stack>.yaml under `root` as the engine would pass it. Encrypted values cannot be
 * decrypted offline; each becomes `secretValue(path)` and stays marked secret.
 */
export function loadStackFile(root: string, stack: string, secretValue: (path: string) => string): StackFile {
  return readStackFile(path.join(root, `Pulumi.${stack}.yaml`), secretValue);
}

/**
 * The module Pulumi's launcher loads for the project at `root`: `main` of Pulumi.yaml, else
 * `main` of package.json, else index.ts. Stack outputs are that module's exports, so a render
 * that skipped it could pass while a real deploy exports nothing.
 */
export function programEntry(root: string): string {
  const project = parse(fs.readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as { main?: string } | null;
  let main = project?.main;
  if (!main) {
    const pkg = path.join(root, "package.json");
    main = fs.existsSync(pkg) ? (JSON.parse(fs.readFileSync(pkg, "utf8")) as { main?: string }).main : undefined;
  }
  return path.resolve(root, main ?? "index.ts");
}

/**
 * Runs the berth program at `root` under mocks, through the entry Pulumi.yaml names. Project
 * modules under `root` are loaded afresh each time so one process can render several stacks or
 * revisions.
 */
export async function runIndex(
  root: string,
  stack: string,
  file: StackFile,
  opts: {
    deployed?: Record<string, unknown>;
    references?: Record<string, Record<string, unknown>>;
    unknowns?: boolean;
  } = {},
): Promise<RunResult> {
  const own = path.resolve(__dirname, "..");
  return run({
    ...opts,
    stack,
    config: file.config,
    secretKeys: file.secretKeys,
    program: () => {
      for (const key of Object.keys(require.cache)) {
        if (!key.startsWith(root + path.sep) || key.includes(`${path.sep}node_modules${path.sep}`)) continue;
        // This renderer and its callers stay loaded: they hold the mock runtime's recorder.
        if (root === own && ["test", "plan", "cli"].some((dir) => key.startsWith(path.join(own, dir) + path.sep)))
          continue;
        delete require.cache[key];
      }
      return require(programEntry(root));
    },
  });
}
