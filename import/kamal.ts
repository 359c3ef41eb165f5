// Reads a Kamal 2 configuration the way Kamal loads it: config/deploy.yml, the destination's
// file deep-merged on top, ERB tags that read the environment, anchors, aliases and merge keys,
// and `x-` extension keys at the root left out.
import * as path from "node:path";
import { LineCounter, parseDocument } from "yaml";
import { duplicateKey } from "../config/yaml";
import { evaluateErb } from "./erb";

/** A value the import could not know: written as a marked placeholder the user fills in. */
export interface Placeholder {
  /** The text written in its place. */
  value: string;
  /** What the user must put there, in their words. */
  what: string;
}

/** An invalid Kamal configuration. Each problem reads `path/to/key: message`, as Kamal words them. */
export class KamalConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
    this.name = "KamalConfigError";
  }
}

export interface KamalSource {
  /** The merged configuration, ERB rendered, extension keys removed. */
  config: Record<string, unknown>;
  /** Files read, base first. */
  files: string[];
  /** Directory Kamal paths (accessory files, builder context) are relative to. */
  projectDir: string;
  placeholders: Placeholder[];
}

export { PLACEHOLDER_PREFIX } from "../config/placeholders";
import { PLACEHOLDER_PREFIX } from "../config/placeholders";

/** `config/deploy.yml` + destination -> `config/deploy.staging.yml`. */
export function destinationFile(base: string, destination: string): string {
  const ext = path.extname(base);
  return `${base.slice(0, base.length - ext.length)}.${destination}${ext}`;
}

/** The Kamal project root: the parent of `config/` when the file lives there. */
export function projectDirOf(file: string): string {
  const dir = path.dirname(path.resolve(file));
  return path.basename(dir) === "config" ? path.dirname(dir) : dir;
}

/**
 * Renders the ERB tags an import can evaluate without running Ruby (see erb.ts): environment
 * lookups, fetch with a default, literals and `||`. An unset variable, and any other output tag,
 * becomes a placeholder; logic tags (`<% if ... %>`) cannot be rendered and are an error.
 */
export function renderErb(
  text: string,
  file: string,
  env: Record<string, string | undefined>,
  placeholders: Placeholder[],
): string {
  const logic = /<%(?![=#])[\s\S]*?%>/.exec(text);
  if (logic) {
    const line = text.slice(0, logic.index).split("\n").length;
    throw new KamalConfigError([
      `${path.basename(file)}:${line}: ERB logic (${logic[0]}) cannot be evaluated by import; render the file first (\`kamal config\` prints it) and import the result`,
    ]);
  }
  const withoutComments = text.replace(/<%#[\s\S]*?%>/g, "");
  const placeholder = (name: string, what: string) => {
    const value = `${PLACEHOLDER_PREFIX}${name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
    if (!placeholders.some((p) => p.value === value)) placeholders.push({ value, what });
    return value;
  };
  let other = 0;
  return withoutComments.replace(/<%=([\s\S]*?)-?%>/g, (_tag, code: string) => {
    const value = evaluateErb(code, env);
    if (typeof value === "string") return value;
    if ("unset" in value)
      return placeholder(
        value.unset,
        `the value of ${value.unset} (unset when importing ${path.basename(file)}; the ERB tag <%=${code}%> read it)`,
      );
    return placeholder(`erb-${++other}`, `the output of <%=${code}%> in ${path.basename(file)}`);
  });
}

/** Kamal's deep merge: hashes merge key by key, anything else (arrays too) is replaced. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (isHash(base) && isHash(over)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = k in out ? deepMerge(out[k], v) : v;
    return out;
  }
  return over;
}

export function isHash(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseYaml(text: string, file: string): Record<string, unknown> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { merge: true, uniqueKeys: false, lineCounter });
  if (doc.errors.length > 0) {
    // One mistake often cascades into several parser errors: the first is the cause.
    throw new KamalConfigError([`${path.basename(file)}: ${doc.errors[0].message.split("\n")[0]}`]);
  }
  const duplicate = duplicateKey(doc);
  if (duplicate) {
    const at = lineCounter.linePos(duplicate.offset);
    throw new KamalConfigError([
      `${path.basename(file)}:${at.line}:${at.col}: the key ${duplicate.key} appears twice in one mapping; keep one`,
    ]);
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 }) ?? {};
  } catch (err) {
    // yaml refuses aliases that expand beyond maxAliasCount (a "billion laughs" document).
    if (err instanceof ReferenceError)
      throw new KamalConfigError([
        `${path.basename(file)}: anchors and aliases expand into too many values (${err.message.split("\n")[0]}); write the values out`,
      ]);
    throw err;
  }
  if (!isHash(value)) throw new KamalConfigError([`${path.basename(file)}: should be a hash of settings`]);
  return value;
}

/** Loads a Kamal configuration file, and the destination's file over it when given. */
export function loadKamal(opts: {
  file: string;
  destination?: string;
  env: Record<string, string | undefined>;
  readFile: (file: string) => string | undefined;
}): KamalSource {
  const placeholders: Placeholder[] = [];
  const files = [opts.file, ...(opts.destination ? [destinationFile(opts.file, opts.destination)] : [])];
  let config: unknown = {};
  for (const file of files) {
    const text = opts.readFile(file);
    if (text === undefined) {
      throw new KamalConfigError([
        file === opts.file
          ? `Configuration file not found in ${file}`
          : `Configuration file for destination ${opts.destination} not found in ${file}`,
      ]);
    }
    config = deepMerge(config, parseYaml(renderErb(text, file, opts.env, placeholders), file));
  }
  const merged = Object.fromEntries(Object.entries(config as object).filter(([k]) => !k.startsWith("x-")));
  if (merged.require_destination === true && !opts.destination) {
    throw new KamalConfigError(["require_destination: a destination is required: pass -d DESTINATION"]);
  }
  return { config: merged, files, projectDir: projectDirOf(opts.file), placeholders };
}
