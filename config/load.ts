// Reads a stack's `berth:` configuration, from the Pulumi engine or from a Pulumi.<stack>.yaml
// file, and turns it into a DeployConfig or one error listing every problem.
import * as fs from "node:fs";
import * as path from "node:path";
import { parseDocument } from "yaml";
import { z } from "zod";
import { closest } from "./closest";
import { accessoryFileSources, DeployConfig, normalize, stackSchema } from "./schema";

export const NAMESPACE = "berth";

/** Why a stack without `berth:version` cannot run: nothing deployed yet to keep. */
export const VERSION_UNSET =
  "not set, and the stack has no deployed version to keep: name the first version to deploy with `pulumi config set berth:version <tag or sha256:digest>` (after that deploy, the stack's state keeps it; see README, First deploy)";

/** A user mistake in configuration. Its message lists every problem with its path. */
export class ConfigError extends Error {
  constructor(
    readonly problems: string[],
    readonly source = "stack configuration",
  ) {
    super(
      `invalid ${source} (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
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
    out[name] = numericKey(name) && /^-?[0-9]+(\.[0-9]+)?$/.test(value.trim()) ? Number(value) : decodeValue(value);
  }
  return out;
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

/** Validates raw `berth:` config. Throws ConfigError listing every problem at once. */
export function parseConfig(
  raw: Record<string, unknown>,
  stack: string,
  source?: string,
  projectDir = process.cwd(),
): DeployConfig {
  const result = stackSchema.safeParse(raw, { error: requiredMessage });
  const problems = result.success ? [] : formatIssues(result.error.issues);
  if (raw.version === undefined) problems.unshift(`${NAMESPACE}:version: ${VERSION_UNSET}`);
  if (!result.success || result.data.version === undefined) throw new ConfigError(problems, source);
  // Files accessories upload are read now, so a missing one stops the run before any resource.
  const missing = accessoryFileSources(result.data)
    .filter((f) => !fs.existsSync(path.resolve(projectDir, f.source)))
    .map((f) => `${NAMESPACE}:${f.path}: local file ${f.source} not found (paths are relative to ${projectDir})`);
  if (missing.length > 0) throw new ConfigError(missing, source);
  return normalize(stack, { ...result.data, version: result.data.version }, (file) =>
    fs.readFileSync(path.resolve(projectDir, file), "utf8"),
  );
}

function requiredMessage(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code === "invalid_type" && issue.input === undefined) return "required";
  return undefined;
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
}

/**
 * Reads Pulumi.<stack>.yaml the way the engine would pass it to the program. Encrypted
 * (`secure:`) values cannot be decrypted offline: `secretValue` supplies a stand-in for each.
 */
export function readStackFile(file: string, secretValue: (path: string) => string): StackFile {
  const doc = parseDocument(fs.readFileSync(file, "utf8"), { uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => `${file}: ${e.message.split("\n")[0]}`),
      file,
    );
  }
  const body = (doc.toJS() ?? {}) as { config?: Record<string, unknown> };
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, value] of Object.entries(body.config ?? {})) {
    let secret = false;
    const resolved = replaceSecure(value, key, (p) => {
      secret = true;
      return secretValue(p);
    });
    if (secret) secretKeys.push(key);
    config[key] = typeof resolved === "string" ? resolved : JSON.stringify(resolved);
  }
  return { config, secretKeys };
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
