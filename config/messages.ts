// Messages for the checks the schema leaves to zod (types, sizes, choices): each says what was
// expected, what was found and how to fix it, in the words of a stack file. A value is never
// repeated unless it is a plain number or boolean, since a misplaced value may be a credential.
import { z } from "zod";

/** Words of zod's own messages; none may reach a user (test/config/fuzz.test.ts checks). */
export const GENERIC_ZOD_TEXT =
  /Invalid input|Invalid option|Too (small|big)|Invalid (string|element|key|union)|received/;

const KINDS: Record<string, string> = {
  string: "text",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  object: "a mapping of keys (key: value lines indented under it)",
  record: "a mapping of names (name: value lines indented under it)",
  array: "a list ([a, b] or lines starting with -)",
  null: "nothing",
  undefined: "nothing",
};

const SHORT_KINDS: Record<string, string> = { object: "a mapping", record: "a mapping of names", array: "a list" };

/** What a value is, in stack-file words; repeats only values that cannot be secret. */
function found(input: unknown): string {
  if (input === null) return "nothing (an empty value)";
  if (Array.isArray(input)) return "a list";
  if (typeof input === "object") return "a mapping";
  if (typeof input === "string") {
    return /^(true|false|yes|no|on|off|-?[0-9][0-9_.]*)$/i.test(input.trim()) ? `the quoted text "${input}"` : "text";
  }
  if (typeof input === "number" || typeof input === "boolean") return String(input);
  return typeof input;
}

function fixFor(expected: string, input: unknown): string {
  if (input === null) return "write the value after the colon, or indent the keys that belong to it under it";
  if (expected === "boolean")
    return typeof input === "string" && /^(true|false)$/i.test(input.trim())
      ? "write true or false without quotes"
      : "write true or false";
  if (expected === "number" || expected === "int")
    return typeof input === "string" && /^-?[0-9]/.test(input.trim())
      ? "write the number without quotes"
      : "write a number";
  if (expected === "string") return "quote the value to keep it as text";
  if (expected === "array") return "write a list such as [a, b]";
  if (expected === "object" || expected === "record")
    return Array.isArray(input)
      ? "write `key: value` lines instead of a list"
      : "write `key: value` lines indented under this key";
  return `write ${KINDS[expected] ?? expected}`;
}

function sizeMessage(issue: {
  code: "too_small" | "too_big";
  origin: string;
  minimum?: number | bigint;
  maximum?: number | bigint;
  inclusive?: boolean;
}): string {
  const small = issue.code === "too_small";
  const limit = Number(small ? issue.minimum : issue.maximum);
  const bound = issue.inclusive === false ? (small ? "more than" : "less than") : small ? "at least" : "at most";
  switch (issue.origin) {
    case "string":
      return small && limit === 1
        ? "must not be empty: write a value or remove the key"
        : `must be ${bound} ${limit} characters long`;
    case "array":
      return small && limit === 1
        ? "the list is empty: list at least one item or remove the key"
        : `must list ${bound} ${limit} item${limit === 1 ? "" : "s"}`;
    default:
      return `must be ${bound} ${limit}; change the number`;
  }
}

/** zod's error map for every check without its own message. */
export function issueMessage(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case "invalid_type": {
      const expected = String(issue.expected);
      if (issue.input === undefined)
        return `required: add this key, holding ${SHORT_KINDS[expected] ?? KINDS[expected] ?? expected}; docs/configuration.md describes it`;
      return `expected ${KINDS[expected] ?? expected}, found ${found(issue.input)}: ${fixFor(expected, issue.input)}`;
    }
    case "too_small":
    case "too_big":
      return sizeMessage(issue as Parameters<typeof sizeMessage>[0]);
    case "invalid_value": {
      const values = (issue.values as unknown[]).map((v) => JSON.stringify(v));
      return values.length === 1
        ? `must be ${values[0]}`
        : `must be one of ${values.join(", ")}; found ${found(issue.input)}`;
    }
    case "invalid_format":
      return `must be ${issue.format === "url" ? "a URL such as https://example.com" : `a valid ${String(issue.format)}`}`;
    case "invalid_union": {
      const branches = (issue.errors as z.core.$ZodIssue[][] | undefined) ?? [];
      const expected = [
        ...new Set(
          branches.flatMap((b) =>
            b.flatMap((i) => (i.code === "invalid_type" && i.path.length === 0 ? [String(i.expected)] : [])),
          ),
        ),
      ];
      if (expected.length > 0 && expected.length === branches.length)
        return `expected ${expected.map((e) => KINDS[e] ?? e).join(" or ")}, found ${found(issue.input)}`;
      // A branch that got further (the right type, a wrong detail) says what is wrong with it.
      const nearest = [...branches].sort((a, b) => a.length - b.length)[0];
      const own = nearest?.find((i) => !GENERIC_ZOD_TEXT.test(i.message));
      return own ? own.message : "is not in any accepted form; see docs/configuration.md for this key";
    }
    case "not_multiple_of":
      return `must be a multiple of ${String(issue.divisor)}`;
    default:
      return undefined;
  }
}

/** The value at a path of the raw config. */
function valueAt(raw: unknown, path: PropertyKey[]): unknown {
  let node = raw;
  for (const seg of path)
    node = node && typeof node === "object" ? (node as Record<PropertyKey, unknown>)[seg] : undefined;
  return node;
}

/**
 * One indentation mistake (`web:` left empty, `hosts:` written at its level) makes zod report the
 * empty key and the stray one separately. Such pairs become one issue on the empty key that
 * names the line to indent; `keysAt` lists the keys the empty key's schema accepts.
 */
export function collapseIndentation(
  issues: z.core.$ZodIssue[],
  raw: unknown,
  keysAt: (path: PropertyKey[]) => string[],
): z.core.$ZodIssue[] {
  const out = [...issues];
  for (const empty of issues) {
    if (empty.code !== "invalid_type" || empty.path.length === 0 || valueAt(raw, empty.path) !== null) continue;
    const parent = empty.path.slice(0, -1);
    const accepted = keysAt(empty.path);
    const strays = new Set<string>();
    for (const other of issues) {
      if (other === empty) continue;
      const sameParent = (p: PropertyKey[]) => p.length === parent.length && p.every((s, i) => s === parent[i]);
      if (other.code === "unrecognized_keys" && sameParent(other.path)) {
        const moved = other.keys.filter((k) => accepted.includes(k));
        if (moved.length === other.keys.length) {
          moved.forEach((k) => strays.add(k));
          out.splice(out.indexOf(other), 1);
        }
      } else if (
        other.path.length === empty.path.length &&
        sameParent(other.path.slice(0, -1)) &&
        accepted.includes(String(other.path.at(-1)))
      ) {
        strays.add(String(other.path.at(-1)));
        out.splice(out.indexOf(other), 1);
      }
    }
    if (strays.size === 0) continue;
    const name = String(empty.path.at(-1));
    const keys = [...strays].map((k) => `\`${k}\``).join(", ");
    out[out.indexOf(empty)] = {
      ...empty,
      message: `is empty, and ${keys} below it ${strays.size > 1 ? "are" : "is"} indented at its level: indent ${keys} two more spaces so ${strays.size > 1 ? "they belong" : "it belongs"} to \`${name}\``,
    };
  }
  return out;
}
