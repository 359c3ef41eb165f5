// Property-based configuration tests: mutated example stacks and generated configs. berth answers
// every invalid config with a ConfigError whose problems each name a `berth:` path, never another
// exception, and accepts every valid config it generates.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ConfigError, fromEngineConfig, parseConfig } from "../../config/load";
import { GENERIC_ZOD_TEXT } from "../../config/messages";
import { stackConfig } from "../support/harness";
import { minimalConfig } from "../support/configs";

const RUNS = { numRuns: 200 };
const examples = Object.fromEntries(
  ["production", "staging"].map((s) => [s, fromEngineConfig(stackConfig(s).config)] as const),
);
const clone = (stack: string): Record<string, any> => structuredClone(examples[stack]);

type Outcome = { ok: true } | { ok: false; problems: string[] };

/** Parses, and turns any exception that is not a well-formed ConfigError into a test failure. */
function attempt(raw: Record<string, unknown>): Outcome {
  try {
    parseConfig(raw, "fuzz");
    return { ok: true };
  } catch (err) {
    if (!(err instanceof ConfigError))
      throw new Error(`not a ConfigError: ${(err as Error)?.stack ?? String(err)}`, { cause: err });
    assert.ok(err.problems.length > 0, "a ConfigError lists its problems");
    for (const p of err.problems) {
      assert.match(p, /^berth:[^\s]*: \S/, `problem without a path: ${p}`);
      // Every message says what was expected and how to fix it, in its own words, not zod's.
      assert.doesNotMatch(p, GENERIC_ZOD_TEXT, `generic message: ${p}`);
    }
    assert.doesNotMatch(err.message, /\n\s+at /, "no stack trace in a config error");
    return { ok: false, problems: err.problems };
  }
}

function rejects(raw: Record<string, unknown>, path: string) {
  const out = attempt(raw);
  assert.ok(!out.ok, `accepted a config broken at ${path}`);
  assert.ok(
    out.problems.some((p) => p.startsWith(path)),
    `no problem names ${path}: ${out.problems.join(" | ")}`,
  );
}

/** Every path (as segments) to a value inside a config. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = prefix.length ? [prefix] : [];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (value && typeof value === "object")
    for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

function setAt(root: any, path: (string | number)[], value: unknown, remove = false) {
  let node = root;
  for (const seg of path.slice(0, -1)) node = node[seg];
  const last = path[path.length - 1];
  if (remove && Array.isArray(node)) node.splice(Number(last), 1);
  else if (remove) delete node[last];
  else node[last] = value;
}

const anyJson = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -70000, max: 70000 }),
  fc.double(),
  fc.string({ maxLength: 12 }),
  fc.constantFrom("", " ", "0.0.0.0", "../etc", "latest", "a:b:c", "x".repeat(300)),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.integer(), { maxKeys: 2 }),
);

const stackArb = fc.constantFrom("production", "staging");
const pathPick = (stack: string) => fc.constantFrom(...paths(examples[stack]));

describe("fuzzing mutated example stacks", () => {
  it("answers any value at any path with a result or a ConfigError naming paths", () => {
    fc.assert(
      fc.property(
        stackArb.chain((s) => fc.tuple(fc.constant(s), pathPick(s), anyJson, fc.boolean())),
        ([stack, path, value, remove]) => {
          const raw = clone(stack);
          setAt(raw, path, value, remove);
          attempt(raw);
        },
      ),
      RUNS,
    );
  });

  it("rejects an unknown key in any section, naming it", () => {
    const strict = [[], ["ssh"], ["dns"], ["registry"], ["hosts", "web-1"], ["servers", "web"], ["accessories", "db"]];
    fc.assert(
      fc.property(
        fc.constantFrom(...strict),
        fc.stringMatching(/^[a-z][a-zA-Z]{2,10}$/).map((k) => `zz${k}`),
        (at, key) => {
          const raw = clone("production");
          setAt(raw, [...at, key], 1);
          rejects(raw, `berth:${[...at, key].join(".")}`);
        },
      ),
      RUNS,
    );
  });

  it("rejects a missing required key", () => {
    const required = [["service"], ["image"], ["version"], ["hosts"], ["ssh"], ["ssh", "publicKey"]];
    fc.assert(
      fc.property(stackArb, fc.constantFrom(...required), (stack, path) => {
        const raw = clone(stack);
        setAt(raw, path, undefined, true);
        rejects(raw, `berth:${path.join(".")}`);
      }),
      RUNS,
    );
  });

  it("rejects roles and accessories on hosts that do not exist", () => {
    fc.assert(
      fc.property(
        stackArb,
        fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/).map((h) => `ghost-${h}`),
        fc.boolean(),
        (stack, ghost, inRole) => {
          const raw = clone(stack);
          if (inRole) {
            raw.servers.web.hosts.push(ghost);
            rejects(raw, "berth:servers.web.hosts");
          } else {
            const [name] = Object.keys(raw.accessories);
            raw.accessories[name].host = ghost;
            rejects(raw, `berth:accessories.${name}`);
          }
        },
      ),
      RUNS,
    );
  });

  it("rejects ports outside 1-65535 or not whole numbers", () => {
    const badPort = fc.oneof(
      fc.integer({ min: -100000, max: 0 }),
      fc.integer({ min: 65536, max: 10_000_000 }),
      fc.double({ min: 1.01, max: 65000, noInteger: true, noNaN: true }),
    );
    fc.assert(
      fc.property(badPort, fc.boolean(), (port, proxy) => {
        const raw = clone("production");
        if (proxy) {
          raw.proxy.appPort = port;
          rejects(raw, "berth:proxy.appPort");
        } else {
          raw.accessories.db.port = port;
          rejects(raw, "berth:accessories.db.port");
        }
      }),
      RUNS,
    );
  });
});

describe("fuzzing generated valid configs", () => {
  const hostName = fc.stringMatching(/^[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,4})?$/);
  const config = fc.uniqueArray(hostName, { minLength: 1, maxLength: 5 }).chain((hosts) =>
    fc.record({
      hosts: fc.constant(hosts),
      types: fc.array(fc.constantFrom("cx23", "cx33", "cpx32", "cax21"), {
        minLength: hosts.length,
        maxLength: hosts.length,
      }),
      location: fc.constantFrom("fsn1", "nbg1", "hel1"),
      web: fc.subarray(hosts, { minLength: 1 }),
      job: fc.option(fc.subarray(hosts, { minLength: 1 }), { nil: undefined }),
      accessories: fc.dictionary(
        fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/),
        fc.record({
          image: fc.constantFrom("redis:7.4", "memcached:1.6", "valkey/valkey:8.0"),
          host: fc.constantFrom(...hosts),
          port: fc.integer({ min: 1024, max: 65535 }).map((p) => `127.0.0.1:${p}:${p}`),
        }),
        { maxKeys: 3 },
      ),
      version: fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/),
      ttl: fc.integer({ min: 60, max: 86400 }),
    }),
  );

  it("accepts every generated config and keeps its hosts, roles and accessories", () => {
    fc.assert(
      fc.property(config, (g) => {
        const raw: Record<string, unknown> = {
          ...minimalConfig(g.version),
          hosts: Object.fromEntries(g.hosts.map((h, i) => [h, { serverType: g.types[i], location: g.location }])),
          servers: { web: { hosts: g.web }, ...(g.job ? { job: { hosts: g.job, cmd: "bin/jobs" } } : {}) },
          accessories: g.accessories,
          dns: { zone: "example.com", hosts: ["app.example.com"], ttl: g.ttl },
        };
        const out = attempt(raw);
        assert.ok(out.ok, `rejected a valid config: ${!out.ok && out.problems.join(" | ")}`);
        const cfg = parseConfig(raw, "fuzz");
        assert.deepEqual(Object.keys(cfg.hosts).sort(), [...g.hosts].sort());
        assert.equal(cfg.version, g.version);
        for (const [name, acc] of Object.entries(g.accessories))
          assert.equal(cfg.hosts[acc.host].kind === "cloud" && cfg.hosts[acc.host].stateful, true, `${name} host`);
      }),
      RUNS,
    );
  });
});
