// The only place that reads Pulumi configuration: the engine's config map becomes a validated
// DeployConfig, and the values of berth:secrets become Pulumi secrets.
import * as crypto from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { fromEngineConfig, NAMESPACE, parseConfig } from "./load";
import { DeployConfig, FINGERPRINT_KEY } from "./schema";

/** Secret values by name. Each is a Pulumi secret, so it is masked in previews, logs and state. */
export interface Secrets {
  get(name: string): pulumi.Output<string>;
  /**
   * A short fingerprint (8 hex digits) of `plain` and of the values of the secrets `secretNames`,
   * for names that must change whenever any of them changes (see `fingerprint` below).
   */
  fingerprint(plain: unknown, secretNames?: string[]): string;
}

/** JSON with object keys sorted, so equal values always give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/**
 * A fingerprint that may appear in resource names, container names and plain outputs even
 * though it covers secret values. A plain hash of a secret would let anyone who reads a name
 * confirm a guess of the secret (hash a candidate password, compare). So whenever a key is
 * set, the fingerprint is HMAC-SHA256 keyed with berth:secrets.BERTH_FINGERPRINT_KEY, a random
 * value of at least 32 characters that exists only in the stack's secret config: without it a
 * fingerprint says nothing about the values it covers, and guesses cannot be checked against
 * it. Without a key only non-secret values may be covered (a plain SHA-256 of text that is
 * visible in the stack's config anyway); the schema requires the key as soon as app
 * containers receive a secret.
 */
export function fingerprint(
  values: Record<string, string> | undefined,
  plain: unknown,
  secretNames: string[] = [],
): string {
  const names = [...new Set(secretNames)].sort();
  if (names.length > 0 && values === undefined)
    throw new Error("fingerprint: secret values are needed to fingerprint secrets");
  const key = values?.[FINGERPRINT_KEY];
  if (names.length > 0 && !key)
    throw new Error(`fingerprint: berth:secrets.${FINGERPRINT_KEY} must be set to fingerprint secret values`);
  const text = canonicalJson({ plain, secrets: Object.fromEntries(names.map((n) => [n, values![n] ?? ""])) });
  const digest = key ? crypto.createHmac("sha256", key).update(text) : crypto.createHash("sha256").update(text);
  return digest.digest("hex").slice(0, 8);
}

/**
 * Secrets from their plain values (as the engine hands them to the program), or from a secret
 * Output of them, which serves `get` but can fingerprint non-secret values only.
 */
export function secretsFrom(values: Record<string, string> | pulumi.Output<Record<string, string>>): Secrets {
  if (pulumi.Output.isInstance(values)) {
    return {
      get: (name) => pulumi.secret(values.apply((all) => all[name] ?? "")),
      fingerprint: (plain, secretNames) => fingerprint(undefined, plain, secretNames),
    };
  }
  const plainValues = { ...values };
  return {
    get: (name) => pulumi.secret(plainValues[name] ?? ""),
    fingerprint: (plain, secretNames) => fingerprint(plainValues, plain, secretNames),
  };
}

/** Reads and validates the current stack's configuration. Throws ConfigError on bad input. */
export function loadStack(): { config: DeployConfig; secrets: Secrets } {
  const all = pulumi.runtime.allConfig();
  const config = parseConfig(fromEngineConfig(all), pulumi.getStack());
  // parseConfig checked that berth:secrets, when set, is a map of strings. The engine hands the
  // program secret config decrypted; every value leaves here only as a Pulumi secret or inside
  // a keyed fingerprint.
  const raw = all[`${NAMESPACE}:secrets`];
  const values = raw ? (JSON.parse(raw) as Record<string, string>) : {};
  return { config, secrets: secretsFrom(values) };
}
