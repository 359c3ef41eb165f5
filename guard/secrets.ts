// The secrets audit: with a distinct sentinel value for every secret, find each place a sentinel
// (or an encoding of it) lands in what berth registers and exports.
import * as pulumi from "@pulumi/pulumi";

export interface Finding {
  /** Where: `<resource name>.<input path>` or `output:<path>`. */
  where: string;
  secretName: string;
  /** How the sentinel appears: plain, base64 or URL-encoded. */
  form: string;
  /** Inside a Pulumi secret envelope. */
  wrapped: boolean;
  /** In a command line (`create`, `update`, `delete` of a command resource). */
  commandLine: boolean;
}

export interface AuditResult {
  resources: number;
  strings: number;
  commandStrings: number;
  outputs: number;
  findings: Finding[];
}

/** Every string in a value, with its path and whether it sits inside a Pulumi secret. */
export function* strings(value: unknown, secret = false, path = ""): Generator<[string, boolean, string]> {
  if (typeof value === "string") yield [value, secret, path];
  else if (Array.isArray(value)) for (const [i, v] of value.entries()) yield* strings(v, secret, `${path}[${i}]`);
  else if (value && typeof value === "object") {
    const envelope = value as Record<string, unknown>;
    if (envelope[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig)
      yield* strings(envelope.value, true, path);
    else for (const [k, v] of Object.entries(value)) yield* strings(v, secret, path ? `${path}.${k}` : k);
  }
}

/** Resolves a program's exports, keeping each secret Output as a Pulumi secret envelope. */
export async function resolveMarked(value: unknown): Promise<unknown> {
  if (pulumi.Output.isInstance(value)) {
    // Every Output carries `isSecret` (@pulumi/pulumi output.ts); its public type leaves it out.
    const secret = await (value as unknown as { isSecret: Promise<boolean> }).isSecret;
    const inner = await resolveMarked(await new Promise((r) => value.apply(r)));
    return secret ? { [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, value: inner } : inner;
  }
  const thenable = value as PromiseLike<unknown> | undefined;
  if (thenable && typeof thenable.then === "function") return resolveMarked(await thenable);
  if (Array.isArray(value)) return Promise.all(value.map(resolveMarked));
  if (value && typeof value === "object" && !(value instanceof pulumi.Resource)) {
    const entries = await Promise.all(
      Object.entries(value).map(async ([k, v]) => [k, await resolveMarked(v)] as const),
    );
    return Object.fromEntries(entries);
  }
  return value;
}

const FORMS: [string, (s: string) => string][] = [
  ["plain", (s) => s],
  ["base64", (s) => Buffer.from(s).toString("base64")],
  ["url-encoded", (s) => encodeURIComponent(s)],
];

const COMMAND_TYPES = /^command:(remote|local):Command$/;
const COMMAND_LINE = /^(create|update|delete)$/;

/**
 * Scans resources (names, and inputs as sent to the engine, secrets wrapped) and exports (secret
 * Outputs wrapped) for the sentinels, given as secret name -> value.
 */
export function audit(
  resources: { name: string; type: string; raw: Record<string, unknown> }[],
  exported: unknown,
  sentinels: Record<string, string>,
): AuditResult {
  const needles = Object.entries(sentinels).flatMap(([name, value]) =>
    FORMS.map(([form, encode]) => ({ name, form, text: encode(value) })).filter(
      (n, i, all) => all.findIndex((m) => m.text === n.text) === i,
    ),
  );
  const result: AuditResult = { resources: resources.length, strings: 0, commandStrings: 0, outputs: 0, findings: [] };
  const scan = (where: string, text: string, wrapped: boolean, commandLine: boolean) => {
    result.strings++;
    if (commandLine) result.commandStrings++;
    for (const n of needles)
      if (text.includes(n.text))
        result.findings.push({ where, secretName: n.name, form: n.form, wrapped, commandLine });
  };
  for (const r of resources) {
    // A name is never secret: it is in every URN, preview and log line.
    scan(`${r.name}:name`, r.name, false, false);
    for (const [text, wrapped, path] of strings(r.raw))
      scan(`${r.name}.${path}`, text, wrapped, COMMAND_TYPES.test(r.type) && COMMAND_LINE.test(path));
  }
  for (const [text, wrapped, path] of strings(exported)) {
    result.outputs++;
    scan(`output:${path}`, text, wrapped, false);
  }
  return result;
}

/** Findings that break the rule: a sentinel outside a secret, or in a command line at all. */
export const violations = (r: AuditResult) => r.findings.filter((f) => !f.wrapped || f.commandLine);
