// What every section of the Kamal import shares: the collectors of what it found (problems, keys
// it left out, notes, secrets, placeholders) and the readers that check a value's type as they
// read it, reporting a mistake under its Kamal path.
import * as path from "node:path";
import { isHash, Placeholder, PLACEHOLDER_PREFIX } from "./kamal";

export interface Unmapped {
  /** Kamal path, e.g. `proxy/run/http_port`. */
  key: string;
  reason: string;
}

export interface SecretNeed {
  name: string;
  /** Where the stack uses it, e.g. `env/secret` or `registry/password`. */
  usedBy: string;
}

export interface ImportOptions {
  /** Turn every host into a new Hetzner Cloud server of this type and location. */
  provision?: { serverType: string; location: string };
  /** Image tag to deploy; Kamal takes it from git at deploy time. */
  version?: string;
  /** OpenSSH public key line for berth:ssh.publicKey. */
  publicKey?: string;
  /** Kamal project directory relative to the stack file's directory, for local paths. */
  projectPath?: string;
  /** Placeholders the loader already wrote (unset ERB variables). */
  placeholders?: Placeholder[];
}

/** A name as berth writes names: lowercase letters, digits and dashes. */
export const lower = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");

/** Tag names berth accepts (config/app.ts tagName). */
export const TAG = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** A word quoted for sh, whatever it holds. */
export const singleQuoted = (w: string) => `'${w.replace(/'/g, `'"'"'`)}'`;

/**
 * One import in progress. Its readers are fields, so a section can take the ones it uses
 * (`const { str, problem } = ctx`).
 */
export class ImportContext {
  /** Mistakes in the Kamal configuration; any one stops the import. */
  readonly problems: string[] = [];
  readonly unmapped: Unmapped[] = [];
  readonly notes: string[] = [];
  readonly secrets: SecretNeed[] = [];
  readonly placeholders: Placeholder[];
  readonly projectPath: string;

  constructor(readonly opts: ImportOptions) {
    this.placeholders = [...(opts.placeholders ?? [])];
    this.projectPath = opts.projectPath ?? ".";
  }

  /** A local path of the Kamal project, as seen from the stack file's directory. */
  readonly local = (p: string) =>
    this.projectPath === "." || path.isAbsolute(p) ? p : path.posix.join(this.projectPath, p);

  readonly problem = (at: string, message: string) => {
    this.problems.push(`${at}: ${message}`);
  };
  readonly skip = (key: string, reason: string) => {
    this.unmapped.push({ key, reason });
  };
  /** Reports each key of `obj` that `reasons` names as left out, under `at` when given. */
  readonly skipKeys = (obj: Record<string, unknown>, reasons: Record<string, string>, at?: string) => {
    for (const k of Object.keys(reasons)) if (obj[k] !== undefined) this.skip(at ? `${at}/${k}` : k, reasons[k]);
  };
  readonly needSecret = (name: string, usedBy: string) => {
    if (!this.secrets.some((s) => s.name === name)) this.secrets.push({ name, usedBy });
  };
  readonly placeholder = (name: string, what: string) => {
    const value = `${PLACEHOLDER_PREFIX}${lower(name)}`;
    if (!this.placeholders.some((p) => p.value === value)) this.placeholders.push({ value, what });
    return value;
  };
  readonly knownKeys = (obj: Record<string, unknown>, known: string[], at: string) => {
    const unknown = Object.keys(obj).filter((k) => !known.includes(k));
    if (unknown.length > 0) this.problem(at, `unknown key${unknown.length > 1 ? "s" : ""}: ${unknown.join(", ")}`);
  };
  readonly hash = (v: unknown, at: string): Record<string, unknown> | undefined => {
    if (v === undefined || v === null) return undefined;
    if (!isHash(v)) {
      this.problem(at, "should be a hash");
      return undefined;
    }
    return v;
  };
  readonly str = (v: unknown, at: string): string | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return String(v);
    this.problem(at, "should be a string");
    return undefined;
  };
  readonly int = (v: unknown, at: string): number | undefined => {
    if (v === undefined || v === null) return undefined;
    const n = typeof v === "string" && /^[0-9_]+$/.test(v) ? Number(v.replace(/_/g, "")) : v;
    if (typeof n !== "number" || !Number.isInteger(n)) {
      this.problem(at, "should be an integer");
      return undefined;
    }
    return n;
  };
  readonly bool = (v: unknown, at: string): boolean | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "boolean") {
      this.problem(at, "should be a boolean");
      return undefined;
    }
    return v;
  };
  readonly strings = (v: unknown, at: string): string[] | undefined => {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) {
      this.problem(at, "should be an array");
      return undefined;
    }
    return v.flatMap((item, i) => this.str(item, `${at}/${i}`) ?? []);
  };
}
