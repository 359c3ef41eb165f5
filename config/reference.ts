// Renders the schema for people and editors: a JSON Schema for Pulumi.<stack>.yaml files and
// the Markdown configuration reference (docs/configuration.md).
import { z } from "zod";
import { NAMESPACE } from "./load";
import { stackSchema } from "./schema";

type Node = {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  properties?: Record<string, Node>;
  required?: string[];
  additionalProperties?: Node | boolean;
  propertyNames?: Node;
  items?: Node;
  anyOf?: Node[];
  [key: string]: unknown;
};

function inputSchema(): Node {
  return z.toJSONSchema(stackSchema, { io: "input", unrepresentable: "any" }) as Node;
}

/** JSON Schema of a whole Pulumi.<stack>.yaml: berth's keys checked, other namespaces left alone. */
export function stackFileJsonSchema(): Record<string, unknown> {
  const schema = inputSchema();
  const secure = { type: "object", properties: { secure: { type: "string" } }, required: ["secure"] };
  const properties: Record<string, Node> = {};
  for (const [key, node] of Object.entries(schema.properties ?? {})) {
    // In the stack file any value may be an encrypted `secure:` value, and so may each secret.
    const value = key === "secrets" ? { ...node, additionalProperties: { anyOf: [{ type: "string" }, secure] } } : node;
    properties[`${NAMESPACE}:${key}`] =
      key === "secrets" ? { anyOf: [value, secure], description: node.description } : value;
  }
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    title: "berth stack configuration (Pulumi.<stack>.yaml)",
    type: "object",
    properties: {
      config: {
        type: "object",
        description: "Stack configuration. berth reads the keys of the berth: namespace.",
        properties,
        required: (schema.required ?? []).map((k) => `${NAMESPACE}:${k}`),
      },
    },
  };
}

function typeOf(node: Node): string {
  if (node.enum) return node.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (node.anyOf) return node.anyOf.map(typeOf).join(" | ");
  if (node.type === "array") return `list of ${node.items ? typeOf(node.items) : "any"}`;
  if (node.type === "object" && typeof node.additionalProperties === "object" && !node.properties) {
    return `map of ${node.additionalProperties.properties ? "objects" : typeOf(node.additionalProperties)}`;
  }
  if (node.format) return `${String(node.type)} (${String(node.format)})`;
  return Array.isArray(node.type) ? node.type.join(" | ") : (node.type ?? "any");
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** Markdown reference: one row per key, from the same schema that validates config. */
export function configurationReference(): string {
  const rows: string[] = [];
  const walk = (node: Node, path: string, required: boolean) => {
    const dflt = node.default === undefined ? "" : `\`${JSON.stringify(node.default)}\``;
    rows.push(
      `| \`${path}\` | ${cell(typeOf(node))} | ${required ? "yes" : ""} | ${dflt} | ${cell(node.description ?? "")} |`,
    );
    const obj = node.properties
      ? node
      : typeof node.additionalProperties === "object" && node.additionalProperties.properties
        ? node.additionalProperties
        : undefined;
    if (!obj?.properties) return;
    const prefix = obj === node ? path : `${path}.<name>`;
    for (const [key, child] of Object.entries(obj.properties)) {
      walk(child, `${prefix}.${key}`, (obj.required ?? []).includes(key) && child.default === undefined);
    }
  };
  const schema = inputSchema();
  for (const [key, node] of Object.entries(schema.properties ?? {})) {
    walk(node, `${NAMESPACE}:${key}`, (schema.required ?? []).includes(key) && node.default === undefined);
  }
  return [
    "# Configuration reference",
    "",
    "<!-- Generated from config/schema.ts by `npm run schema`; do not edit by hand. -->",
    "",
    "Every key berth reads from a stack's `Pulumi.<stack>.yaml`, under the `berth:` namespace.",
    "Set values with `pulumi config set` (objects with `--path`), secrets with `--secret`.",
    "An editor that reads JSON Schema can check stack files against `schema/berth.schema.json`.",
    "",
    "| Key | Type | Required | Default | Description |",
    "| --- | --- | --- | --- | --- |",
    ...rows,
    "",
  ].join("\n");
}

/** Every key path whose schema has no description. The schema promises one everywhere. */
export function undocumentedKeys(): string[] {
  const missing: string[] = [];
  const walk = (node: Node, path: string) => {
    if (!node.description) missing.push(path);
    const obj = node.properties
      ? node
      : typeof node.additionalProperties === "object" && node.additionalProperties.properties
        ? node.additionalProperties
        : undefined;
    for (const [key, child] of Object.entries(obj?.properties ?? {})) walk(child, `${path}.${key}`);
  };
  for (const [key, node] of Object.entries(inputSchema().properties ?? {})) walk(node, `${NAMESPACE}:${key}`);
  return missing;
}
