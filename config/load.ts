// Reads a stack's `berth:` configuration, from the Pulumi engine or from a Pulumi.<stack>.yaml
// file, and turns it into a DeployConfig or one error listing every problem.
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { closest } from "./closest";
import { collapseIndentation, issueMessage } from "./messages";
import { placeholdersIn, underPlaceholder } from "./placeholders";
import { plaintextSecrets, redact, SECRET_KEYS, setSecretCommand } from "./secrets";
import { engineText, Position, PulumiValue, readPulumiYaml } from "./yaml";
import { offlineSharedServer, SharedServer, withSharedHosts } from "./attach";
import { accessoryFileSources, DeployConfig, normalize, serverName, stackSchema } from "./schema";

export const NAMESPACE = "berth";

/** Why a stack without `berth:version` cannot run: nothing deployed yet to keep. */
export const VERSION_UNSET =
  "not set, and the stack has no deployed version to keep: name the first version to deploy with `pulumi config set berth:version <tag or sha256:digest>` (after that deploy, the stack's state keeps it; see README, First deploy)";

/**
 * A user mistake in configuration. Its message lists every problem with its path. Messages end up
 * in CI logs: anything in them that could be a credential is redacted.
 */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(
    problems: string[],
    readonly source = "stack configuration",
  ) {
    const clean = problems.map(redact);
    super(
      `invalid ${source} (${clean.length} problem${clean.length === 1 ? "" : "s"}):\n` +
        clean.map((p) => `  - ${p}`).join("\n"),
    );
    this.problems = clean;
    this.name = "ConfigError";
  }
}

/**
 * Turns the engine's flat config map (`{"berth:hosts": "{...json...}", "berth:service": "app"}`)
 * into the object the schema checks. Keys of other namespaces (hcloud:token, ...) are ignored.
 */
export function fromEngineConfig(all: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(all)) {
    const [ns, ...rest] = key.split(":");
    if (ns !== NAMESPACE) continue;
    const name = rest.join(":");
    // The number test first: the schema lookup builds the JSON Schema of every key, once per run.
    out[name] = /^-?[0-9]+(\.[0-9]+)?$/.test(value.trim()) && numericKey(name) ? Number(value) : decodeValue(value);
  }
  return out;
}

/**
 * Problems the engine's flat config map shows before any schema check: credentials that are not
 * Pulumi secrets, and keys berth would never read (another namespace spelt like berth's, or the
 * project's own namespace when the project is not named berth: Pulumi files keys written without
 * a namespace there).
 */
export function configKeyProblems(
  all: Record<string, string>,
  project: string,
  isSecret: (key: string) => boolean,
  stack: string,
): string[] {
  const problems: string[] = [];
  for (const key of SECRET_KEYS) {
    if (all[key] === undefined || isSecret(key)) continue;
    let names: string[];
    try {
      names = key === "berth:secrets" ? Object.keys(JSON.parse(all[key]) as object) : [];
    } catch {
      names = [];
    }
    const paths = key === "berth:secrets" ? names.map((n) => `${key}.${n}`) : [key];
    for (const p of paths)
      problems.push(
        `${p}: stored in plain text, not as a Pulumi secret: store it with \`${setSecretCommand(p, stack)}\` (it asks for the value)`,
      );
  }
  for (const key of Object.keys(all)) {
    const [ns, ...rest] = key.split(":");
    const name = rest.join(":");
    if (ns === NAMESPACE || rest.length === 0) continue;
    if (ns === project) {
      problems.push(
        `${key}: berth reads only keys of the ${NAMESPACE}: namespace; this key (written without a namespace, so Pulumi filed it under the project ${project}) is ignored: write it as ${NAMESPACE}:${name}`,
      );
    } else if (closest(ns, [NAMESPACE]) === NAMESPACE && keysAt([]).includes(name.split(".")[0])) {
      problems.push(`${key}: unknown namespace ${ns}; did you mean ${NAMESPACE}:${name}?`);
    }
  }
  return problems;
}

// Top-level numbers (berth:retainContainers: 3) reach the program as the string "3". Only keys
// the schema declares numeric are decoded, so a tag such as berth:version "1.10" stays a string.
function numericKey(name: string): boolean {
  const node = schemaAt([name]) as { type?: string } | undefined;
  return node?.type === "integer" || node?.type === "number";
}

// The engine passes objects as JSON and scalars as plain strings. Only objects, arrays and
// booleans are decoded: a tag such as "1.10" must stay a string, not become the number 1.1.
function decodeValue(value: string): unknown {
  const trimmed = value.trim();
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) {
    try {
      return JSON.parse(trimmed);
    } catch {
      return value;
    }
  }
  if (trimmed === "true") return true;
  if (trimmed === "false") return false;
  return value;
}

/**
 * Validates raw `berth:` config. Throws ConfigError listing every problem at once. With
 * `allowPlaceholders` (for `berth import`, which writes them on purpose) a value that still holds
 * an import placeholder is no problem, and the result is undefined when one stands in the way.
 */
export function parseConfig(
  raw: Record<string, unknown>,
  stack: string,
  source: string | undefined,
  projectDir: string | undefined,
  opts: { allowPlaceholders: true; shared?: SharedServer },
): DeployConfig | undefined;
export function parseConfig(
  raw: Record<string, unknown>,
  stack: string,
  source?: string,
  projectDir?: string,
  opts?: { shared?: SharedServer },
): DeployConfig;
export function parseConfig(
  input: Record<string, unknown>,
  stack: string,
  source?: string,
  projectDir = process.cwd(),
  opts: { allowPlaceholders?: boolean; shared?: SharedServer } = {},
): DeployConfig | undefined {
  // An attached stack's roles name the server stack's hosts: they are checked as this stack's own.
  let raw = input;
  const shared = opts.shared ?? offlineSharedServer(input);
  if (shared) {
    const merged = withSharedHosts(input, shared);
    if ("problems" in merged) throw new ConfigError(merged.problems, source);
    raw = merged.raw;
  }
  const placeholders = placeholdersIn(raw);
  const placed = opts.allowPlaceholders ? [] : placeholders.map((p) => `${configPath(p.path)}: ${p.message}`);
  // Only a stack that runs roles deploys a version.
  const runsRoles = !!raw.servers && typeof raw.servers === "object" && Object.keys(raw.servers).length > 0;
  const unset = raw.version === undefined && runsRoles ? [`${NAMESPACE}:version: ${VERSION_UNSET}`] : [];
  const result = stackSchema.safeParse(raw, { error: issueMessage });
  if (!result.success) {
    // What a placeholder breaks is said once, by the placeholder's own message.
    const issues = result.error.issues.filter((i) => !underPlaceholder(i.path, placeholders));
    const problems = [...unset, ...placed, ...formatIssues(collapseIndentation(issues, raw, keysAt))];
    if (problems.length > 0) throw new ConfigError(problems, source);
    return undefined;
  }
  const version = result.data.version ?? (runsRoles ? undefined : "");
  if (placed.length > 0 || version === undefined) throw new ConfigError([...unset, ...placed], source);
  // Files accessories upload are read now, so a missing one stops the run before any resource.
  const missing = accessoryFileSources(result.data)
    .filter((f) => !fs.existsSync(path.resolve(projectDir, f.source)))
    .map((f) => `${NAMESPACE}:${f.path}: local file ${f.source} not found (paths are relative to ${projectDir})`);
  if (missing.length > 0) throw new ConfigError(missing, source);
  const longNames = Object.entries(result.data.hosts)
    .filter(([name, h]) => h.address === undefined && serverName(result.data.service, stack, name).length > 63)
    .map(
      ([name]) =>
        `${configPath(["hosts", name])}: the server's name ${serverName(result.data.service, stack, name)} (<service>-<stack>-<host>, unique in the Hetzner project) is longer than the 63 characters of a host name; shorten the host name or berth:service`,
    );
  if (longNames.length > 0) throw new ConfigError(longNames, source);
  return normalize(
    stack,
    { ...result.data, version },
    (file) => fs.readFileSync(path.resolve(projectDir, file), "utf8"),
    shared,
  );
}

/** `["hosts", "web-1", "volumes"]` -> `berth:hosts.web-1.volumes`; array indexes as `[0]`. */
export function configPath(path: PropertyKey[]): string {
  let out = `${NAMESPACE}:`;
  path.forEach((seg, i) => {
    if (typeof seg === "number") out += `[${seg}]`;
    // A key with spaces or punctuation is quoted, so the path stays one unambiguous word.
    else if (!/^[A-Za-z0-9_-]+$/.test(String(seg)))
      out += `[${JSON.stringify(String(seg)).replace(/\s/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)}]`;
    else out += `${i === 0 ? "" : "."}${String(seg)}`;
  });
  return out === `${NAMESPACE}:` ? `${NAMESPACE}:*` : out;
}

type JsonSchemaNode = {
  properties?: Record<string, JsonSchemaNode>;
  additionalProperties?: JsonSchemaNode | boolean;
  items?: JsonSchemaNode;
  anyOf?: JsonSchemaNode[];
  allOf?: JsonSchemaNode[];
};

let inputJsonSchema: JsonSchemaNode | undefined;
function schemaAt(path: PropertyKey[]): JsonSchemaNode | undefined {
  inputJsonSchema ??= z.toJSONSchema(stackSchema, { io: "input", unrepresentable: "any" }) as JsonSchemaNode;
  let node: JsonSchemaNode | undefined = inputJsonSchema;
  for (const seg of path) {
    if (!node) return undefined;
    node = objectNode(node);
    if (typeof seg === "number") node = node?.items;
    else
      node =
        node?.properties?.[String(seg)] ??
        (typeof node?.additionalProperties === "object" ? node.additionalProperties : undefined);
  }
  return node && objectNode(node);
}

function objectNode(node: JsonSchemaNode): JsonSchemaNode | undefined {
  if (node.properties || node.additionalProperties || node.items) return node;
  for (const sub of [...(node.anyOf ?? []), ...(node.allOf ?? [])]) {
    const found = objectNode(sub);
    if (found) return found;
  }
  return node;
}

/** Known keys at a config path, from the same schema that validates it. */
export function keysAt(path: PropertyKey[]): string[] {
  return Object.keys(schemaAt(path)?.properties ?? {});
}

export function formatIssues(issues: z.core.$ZodIssue[]): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      const known = keysAt(issue.path);
      for (const key of issue.keys) {
        const hint = closest(key, known);
        const fix = hint ? `did you mean "${hint}"?` : known.length ? `valid keys: ${known.join(", ")}` : "remove it";
        out.push(`${configPath([...issue.path, key])}: unknown key; ${fix}`);
      }
      continue;
    }
    if (issue.code === "invalid_key") {
      // zod names the key's rule only in the nested issues; say which name broke which rule.
      const why = issue.issues.map((i) => i.message).join("; ");
      out.push(
        `${configPath([...issue.path])}: ${JSON.stringify(String(issue.path.at(-1)))} is not a valid name: ${why}`,
      );
      continue;
    }
    out.push(`${configPath(issue.path)}: ${issue.message}`);
  }
  return [...new Set(out)];
}

export interface StackFile {
  /** Flat engine-style config: `berth:key` -> string, secure values replaced. */
  config: Record<string, string>;
  /** Keys whose value is (or contains) a secret. */
  secretKeys: string[];
  /** Where each value sits in the file, by config path (`berth:hosts.web-1`). */
  positions?: Map<string, Position>;
}

/**
 * Reads Pulumi.<stack>.yaml the way the Pulumi CLI passes it to the program (see config/yaml.ts):
 * scalars typed as yaml.v3 types them, keys without a namespace put in the project's. Encrypted
 * (`secure:`) values cannot be decrypted offline: `secretValue` supplies a stand-in for each.
 * Throws ConfigError for what only the file shows: YAML mistakes, berth values Pulumi would read
 * differently from how they are written, and secrets stored in plain text.
 */
export function readStackFile(file: string, secretValue: (path: string) => string): StackFile {
  const yaml = readPulumiYaml(fs.readFileSync(file, "utf8"));
  const where = (at: Position) => `${path.basename(file)}:${at.line}:${at.col}`;
  if (yaml.problems.length > 0) {
    throw new ConfigError(
      yaml.problems.map((p) => `${where(p)}: ${p.message}`),
      file,
    );
  }
  const project = projectName(path.dirname(file));
  const stack = /^Pulumi\.(.+)\.ya?ml$/.exec(path.basename(file))?.[1] ?? "STACK";
  const problems: string[] = [];
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  const positions = new Map<string, Position>();
  for (const entry of yaml.config) {
    // Pulumi puts a key without a namespace into the project's (loaders.go, stackConfigNamespacedWithProject).
    const key = entry.key.includes(":") ? entry.key : `${project}:${entry.key}`;
    for (const [p, at] of yaml.positions) {
      if (p === entry.key || p.startsWith(`${entry.key}.`) || p.startsWith(`${entry.key}[`))
        positions.set(key + p.slice(entry.key.length), at);
    }
    let secret = false;
    const resolved = replaceSecure(entry.value, key, (p) => {
      secret = true;
      return secretValue(p);
    });
    if (secret) secretKeys.push(key);
    config[key] = typeof resolved === "string" ? resolved : engineText(resolved as PulumiValue);
    problems.push(
      ...plaintextSecrets(key, entry.value, stack).map(
        (m) => `${where(positions.get(m.path) ?? entry.at)}: ${m.message}`,
      ),
    );
  }
  for (const r of yaml.retyped) {
    const key = r.path.includes(":") ? r.path : `${project}:${r.path}`;
    if (!key.startsWith(`${NAMESPACE}:`) || expectsNumber(key)) continue;
    problems.push(
      `${key} (${where(r.at)}): Pulumi reads the unquoted ${r.written} as ${r.read}; quote it to keep it as written: "${r.written}"`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems, file);
  return { config, secretKeys, positions };
}

/** The project name in Pulumi.yaml beside a stack file; keys without a namespace belong to it. */
function projectName(dir: string): string {
  const file = path.join(dir, "Pulumi.yaml");
  if (!fs.existsSync(file)) return NAMESPACE;
  const name = /^name:\s*["']?([^"'\s#]+)/m.exec(fs.readFileSync(file, "utf8"))?.[1];
  return name ?? NAMESPACE;
}

/** True when the schema declares a number at this `berth:` path, where a retyped scalar is harmless. */
function expectsNumber(key: string): boolean {
  const segments = key
    .slice(NAMESPACE.length + 1)
    .split(/\.|\[(\d+)\]/)
    .filter((s) => s !== undefined && s !== "")
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  const node = schemaAt(segments) as { type?: string } | undefined;
  return node?.type === "integer" || node?.type === "number";
}

function replaceSecure(value: unknown, path: string, secretValue: (path: string) => string): unknown {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    if (Object.keys(obj).length === 1 && typeof obj.secure === "string") return secretValue(path);
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, replaceSecure(v, `${path}.${k}`, secretValue)]));
  }
  if (Array.isArray(value)) return value.map((v, i) => replaceSecure(v, `${path}[${i}]`, secretValue));
  return value;
}

/**
 * Adds the file position to each problem that names a config path: `berth:servers.web: ...`
 * becomes `berth:servers.web (Pulumi.staging.yaml:14:5): ...`, from the nearest enclosing path
 * the file has a position for.
 */
export function withPositions(problems: string[], positions: Map<string, Position>, file: string): string[] {
  return problems.map((problem) => {
    const m = /^(berth:[^\s:]*(?::[^\s:]+)*?): /.exec(problem);
    if (!m) return problem;
    let key = m[1];
    while (key && !positions.has(key)) {
      const shorter = key.replace(/(\.[^.[\]]+|\[[^\]]*\])$/, "");
      if (shorter === key) break;
      key = shorter;
    }
    const at = positions.get(key);
    return at ? `${m[1]} (${path.basename(file)}:${at.line}:${at.col})${problem.slice(m[1].length)}` : problem;
  });
}
