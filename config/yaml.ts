// Reads Pulumi.<stack>.yaml the way the Pulumi CLI does, so `berth plan` and the tests see the
// exact strings `pulumi up` hands the program.
//
// The CLI (sdk/go/common/workspace/loaders.go, LoadProjectStackBytes) decodes the file with
// gopkg.in/yaml.v3 into plain Go values, encodes it again and decodes each config value once more
// (sdk/go/common/resource/config/object.go, unmarshalObject). Plain scalars are typed by yaml.v3's
// resolver (resolve.go): `2026.10` becomes the float 2026.1, `0777` the octal 511, `2026-10-01` a
// time printed as "2026-10-01 00:00:00 +0000 UTC", `yes` stays a string. A top-level value reaches
// the program as its text (strings as written, others as JSON); an object or list as JSON with
// its keys sorted, since Go encodes maps in key order. Keys without a namespace get the project's.
import {
  Alias,
  Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  Node,
  parseDocument,
  Scalar,
  visit,
} from "yaml";

/** A value as the Pulumi CLI holds it after reading the file. */
export type PulumiValue = null | boolean | bigint | number | string | PulumiValue[] | { [key: string]: PulumiValue };

/** Where something sits in the file, 1-based. */
export interface Position {
  line: number;
  col: number;
}

/** A problem in the file, with its position. */
export interface YamlProblem extends Position {
  message: string;
}

const FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

/** Go's strconv.ParseInt / ParseUint with base 0 (prefixes 0x, 0o, 0b and a leading 0 for octal). */
function goInteger(text: string): bigint | undefined {
  const m = /^([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.exec(text);
  if (!m) return undefined;
  const digits = m[2];
  const magnitude = /^0[0-7]+$/.test(digits)
    ? BigInt(`0o${digits.slice(1)}`)
    : BigInt(
        digits
          .replace(/^0[oO]/, "0o")
          .replace(/^0[bB]/, "0b")
          .replace(/^0[xX]/, "0x"),
      );
  const value = m[1] === "-" ? -magnitude : magnitude;
  if (value >= INT64_MIN && value <= UINT64_MAX && !(m[1] === "-" && value < INT64_MIN)) return value;
  return undefined;
}

/** yaml.v3's timestamp formats (resolve.go allowedTimestampFormats), printed as Go's time.String(). */
function goTimestamp(text: string): string | undefined {
  const m =
    /^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:([Tt ])([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:\.([0-9]{1,9}))?(Z|[-+][0-9]{2}:[0-9]{2})?)?$/.exec(
      text,
    );
  if (!m) return undefined;
  const [, y, mo, d, sep, h = "0", mi = "0", s = "0", frac, zone] = m;
  // A zone is required after T and not allowed after a space.
  if (sep && (sep === " " ? zone !== undefined : zone === undefined)) return undefined;
  const day = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (day.getUTCMonth() !== Number(mo) - 1 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return undefined;
  const two = (n: string) => n.padStart(2, "0");
  const fraction = frac && /[1-9]/.test(frac) ? `.${frac.replace(/0+$/, "")}` : "";
  const offset = !zone || zone === "Z" ? "+0000 UTC" : `${zone.replace(":", "")} ${zone.replace(":", "")}`;
  return `${y}-${two(mo)}-${two(d)} ${two(h)}:${two(mi)}:${two(s)}${fraction} ${offset}`;
}

/** The value yaml.v3 gives an untagged plain scalar (resolve.go, resolve). */
export function resolvePlain(text: string): PulumiValue {
  if (["", "~", "null", "Null", "NULL"].includes(text)) return null;
  if (["true", "True", "TRUE"].includes(text)) return true;
  if (["false", "False", "FALSE"].includes(text)) return false;
  if ([".nan", ".NaN", ".NAN"].includes(text)) return NaN;
  if ([".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"].includes(text)) return Infinity;
  if (["-.inf", "-.Inf", "-.INF"].includes(text)) return -Infinity;
  const first = text[0];
  if (first === ".") return /^\.[0-9]+([eE][-+]?[0-9]+)?$/.test(text) ? Number(text) : text;
  if (!/[-+0-9]/.test(first)) return text;
  const time = goTimestamp(text);
  // object.go keeps a time as the string Go prints for it.
  if (time !== undefined) return time;
  const plain = text.replace(/_/g, "");
  const int = goInteger(plain);
  if (int !== undefined) return int;
  if (FLOAT.test(plain)) return Number(plain);
  return text;
}

/**
 * The text the program receives for a value: strings as written, everything else as JSON the
 * way Go encodes it (object keys sorted, integers exact, times as their printed form).
 */
export function engineText(value: PulumiValue): string {
  return typeof value === "string" ? value : json(value);
}

function json(value: PulumiValue): string {
  if (value === null) return "null";
  if (typeof value === "bigint") return value.toString();
  // Go and JavaScript print floats alike (shortest form that reads back the same).
  if (typeof value === "number") return String(value);
  if (typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(json).join(",")}]`;
  const obj = value as { [key: string]: PulumiValue };
  const keys = Object.keys(obj).sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : a === b ? 0 : 1));
  return `{${keys.map((k) => `${JSON.stringify(k)}:${json(obj[k])}`).join(",")}}`;
}

/** A parsed stack file: each config key's value as Pulumi holds it, and where things are. */
export interface PulumiYaml {
  /** Config keys as written (namespaces not yet added) and their values. */
  config: { key: string; value: PulumiValue; at: Position; written: Scalar | undefined }[];
  /** Position of each value by its path, e.g. `berth:hosts.web-1.serverType`. */
  positions: Map<string, Position>;
  /** Plain scalars whose meaning Pulumi changes (numbers losing digits, dates, octals), by path. */
  retyped: { path: string; written: string; read: string; at: Position }[];
  problems: YamlProblem[];
}

/** Parses the text of a stack file; never throws for bad YAML, which becomes `problems`. */
export function readPulumiYaml(text: string): PulumiYaml {
  const lineCounter = new LineCounter();
  // Anchors may expand into each other; a bounded count keeps a crafted file from taking forever.
  const doc = parseDocument(text, { schema: "failsafe", lineCounter, uniqueKeys: false, keepSourceTokens: true });
  const pos = (offset: number): Position => lineCounter.linePos(offset);
  const out: PulumiYaml = { config: [], positions: new Map(), retyped: [], problems: [] };
  const duplicate = duplicateKey(doc);
  if (doc.errors.length === 0 && duplicate) {
    out.problems.push({
      ...pos(duplicate.offset),
      message: `the key ${duplicate.key} appears twice in one mapping; keep one`,
    });
    return out;
  }
  if (doc.errors.length > 0) {
    // One mistake often cascades into several parser errors at the same place: the first is the cause.
    const e = doc.errors[0];
    const at = pos(e.pos[0]);
    out.problems.push({ ...at, message: yamlMessage(e.code, e.message) });
    return out;
  }
  let expanded = 0;
  const value = (node: Node | Alias | null | undefined, path: string, depth: number): PulumiValue => {
    if (++expanded > 100_000 || depth > 100)
      throw new YamlLimit(node ? pos(node.range?.[0] ?? 0) : { line: 1, col: 1 });
    if (node === null || node === undefined) return null;
    if (node.range) out.positions.set(path, pos(node.range[0]));
    if (isAlias(node)) return value(node.resolve(doc as Document) as Node, path, depth + 1);
    if (isScalar(node)) {
      const str = String(node.value ?? "");
      if (node.type !== "PLAIN" || node.tag === "tag:yaml.org,2002:str") return str;
      const written = node.source ?? str;
      const read = resolvePlain(written);
      if (typeof read === "number" && !Number.isFinite(read)) {
        throw new YamlLimit(pos(node.range![0]), `${path}: ${written} is not a number Pulumi can store; quote it`);
      }
      if (read !== null && typeof read !== "boolean" && engineText(read) !== written) {
        out.retyped.push({ path, written, read: engineText(read), at: pos(node.range![0]) });
      }
      return read;
    }
    if (isSeq(node)) return node.items.map((item, i) => value(item as Node, `${path}[${i}]`, depth + 1));
    if (isMap(node)) {
      const obj: { [key: string]: PulumiValue } = {};
      const merges: PulumiValue[] = [];
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        if (isScalar(pair.key) && pair.key.type === "PLAIN" && key === "<<") {
          merges.push(value(pair.value as Node, path, depth + 1));
          continue;
        }
        const at = path ? `${path}.${key}` : key;
        obj[key] = value(pair.value as Node, at, depth + 1);
        // A problem with a key's value is shown at the key, where the line starts.
        const keyRange = (pair.key as Node | null)?.range;
        if (keyRange) out.positions.set(at, pos(keyRange[0]));
      }
      // Merge keys fill in what the mapping does not set itself, earlier merges first.
      for (const m of merges.flat()) {
        if (m && typeof m === "object" && !Array.isArray(m))
          for (const [k, v] of Object.entries(m)) if (!(k in obj)) obj[k] = v;
      }
      return obj;
    }
    return null;
  };
  try {
    const root = doc.contents;
    if (!root) return out;
    if (!isMap(root)) {
      out.problems.push({ ...pos(root.range?.[0] ?? 0), message: "a stack file is a mapping with a `config:` key" });
      return out;
    }
    const configPair = root.items.find((p) => isScalar(p.key) && p.key.value === "config");
    if (!configPair || configPair.value === null) return out;
    const config = isAlias(configPair.value) ? configPair.value.resolve(doc as Document) : configPair.value;
    if (!isMap(config)) {
      out.problems.push({ ...pos((config as Node).range?.[0] ?? 0), message: "`config:` must be a mapping of keys" });
      return out;
    }
    for (const pair of config.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const node = pair.value as Node | null;
      out.config.push({
        key,
        value: value(node, key, 0),
        at: pos((pair.key as Node).range?.[0] ?? 0),
        written: isScalar(node) ? node : undefined,
      });
    }
  } catch (err) {
    if (!(err instanceof YamlLimit)) throw err;
    out.problems.push({ ...err.at, message: err.message });
  }
  return out;
}

/**
 * The first key that appears twice in one mapping. The yaml library's own check (uniqueKeys)
 * compares each key with every earlier one, which takes minutes on a large file; this is linear.
 */
export function duplicateKey(doc: Document.Parsed): { key: string; offset: number } | undefined {
  let found: { key: string; offset: number } | undefined;
  visit(doc, {
    Map(_key, node) {
      const seen = new Set<unknown>();
      for (const pair of node.items) {
        const k = isScalar(pair.key) ? pair.key.value : pair.key;
        if (typeof k !== "object" && seen.has(k)) {
          found = { key: String(k), offset: (pair.key as Node).range?.[0] ?? 0 };
          return visit.BREAK;
        }
        seen.add(k);
      }
      return undefined;
    },
  });
  return found;
}

class YamlLimit extends Error {
  constructor(
    readonly at: Position,
    message = "anchors and aliases expand into too many values (more than 100,000); write the values out",
  ) {
    super(message);
  }
}

/** The yaml library's message, first line only, with a hint where the cause is usually indentation. */
function yamlMessage(code: string, message: string): string {
  const first = message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
  const indentation = [
    "BAD_INDENT",
    "MISSING_CHAR",
    "MULTILINE_IMPLICIT_KEY",
    "UNEXPECTED_TOKEN",
    "BLOCK_AS_IMPLICIT_KEY",
  ].includes(code);
  return indentation
    ? `${first}; check this line's indentation against the lines above it (YAML nests by spaces, never tabs)`
    : first;
}
