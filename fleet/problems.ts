// Request problems in the words of the API: each names the field (`variables.image`,
// `servers[0]`) and says what was expected, never in zod's own wording. The checks that speak of
// sizes, choices and formats share berth's messages (config/messages.ts); types and unknown
// fields are said in JSON terms here, since a request is JSON, not a stack file.
import { z } from "zod";
import { closest } from "../config/closest";
import { issueMessage } from "../config/messages";

const KINDS: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  object: "an object",
  record: "an object",
  array: "a list",
};

function found(input: unknown): string {
  if (input === null) return "null";
  if (Array.isArray(input)) return "a list";
  if (typeof input === "object") return "an object";
  return KINDS[typeof input] ?? typeof input;
}

/** zod's error map for request bodies, query strings and path parameters. */
export function requestIssueMessage(issue: z.core.$ZodRawIssue): string | undefined {
  if (issue.code === "invalid_type") {
    const expected = KINDS[String(issue.expected)] ?? String(issue.expected);
    return issue.input === undefined
      ? `required: give ${expected}`
      : `expected ${expected}, found ${found(issue.input)}`;
  }
  return issueMessage(issue);
}

function fieldPath(prefix: string, path: PropertyKey[]): string {
  let out = prefix;
  for (const seg of path) out += typeof seg === "number" ? `[${seg}]` : `${out ? "." : ""}${String(seg)}`;
  return out || "request";
}

/** Known fields of an object schema at `path`, for "did you mean". */
function fieldsAt(schema: z.ZodType | undefined, path: PropertyKey[]): string[] {
  let node: unknown = schema;
  for (const seg of path) {
    const def = (node as { def?: { shape?: Record<string, unknown>; element?: unknown; valueType?: unknown } })?.def;
    node = typeof seg === "number" ? def?.element : (def?.shape?.[String(seg)] ?? def?.valueType);
    while ((node as { def?: { innerType?: unknown } })?.def?.innerType)
      node = (node as { def: { innerType: unknown } }).def.innerType;
  }
  return Object.keys((node as { def?: { shape?: object } })?.def?.shape ?? {});
}

/** One line per problem: `field: what is wrong and how to fix it`. */
export function requestProblems(issues: z.core.$ZodIssue[], prefix = "", schema?: z.ZodType): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      const known = fieldsAt(schema, issue.path);
      for (const key of issue.keys) {
        const hint = closest(key, known);
        const fix = hint ? `did you mean "${hint}"?` : known.length ? `known fields: ${known.join(", ")}` : "remove it";
        out.push(`${fieldPath(prefix, [...issue.path, key])}: unknown field; ${fix}`);
      }
    } else if (issue.code === "invalid_key") {
      const why = issue.issues.map((i) => i.message).join("; ");
      out.push(
        `${fieldPath(prefix, issue.path)}: ${JSON.stringify(String(issue.path.at(-1)))} is not a valid name: ${why}`,
      );
    } else out.push(`${fieldPath(prefix, issue.path)}: ${issue.message}`);
  }
  return [...new Set(out)];
}

/** Parses `input` with `schema`; problems in the API's words, or the value. */
export function parseRequest<T extends z.ZodType>(
  schema: T,
  input: unknown,
  prefix = "",
): { value: z.output<T>; problems?: undefined } | { value?: undefined; problems: string[] } {
  const result = schema.safeParse(input, { error: requestIssueMessage });
  return result.success ? { value: result.data } : { problems: requestProblems(result.error.issues, prefix, schema) };
}
