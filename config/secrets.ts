// Secret hygiene at the point where config comes in: credentials stored in plain text are refused
// with the command that stores them encrypted, secret names must look like names, and no message
// ever repeats a value that could be a credential.
import type { PulumiValue } from "./yaml";

/** Config keys that hold credentials and must be Pulumi secrets (`secure:` in the stack file). */
export const SECRET_KEYS = ["berth:secrets", "hcloud:token"] as const;

/** The command that stores a config value encrypted; it prompts for the value, which never lands in shell history. */
export function setSecretCommand(key: string, stack: string): string {
  const [head, ...rest] = key.split(".");
  return rest.length === 0
    ? `pulumi config set --secret ${head} --stack ${stack}`
    : `pulumi config set --secret --path '${key}' --stack ${stack}`;
}

const isSecure = (v: PulumiValue) =>
  v !== null && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1 && "secure" in v;

/**
 * Values under a credential key that are stored in plain text, each with the message that says
 * how to store it encrypted. The value itself is never part of the message.
 */
export function plaintextSecrets(key: string, value: PulumiValue, stack: string): { path: string; message: string }[] {
  if (!(SECRET_KEYS as readonly string[]).includes(key) || value === null || isSecure(value)) return [];
  const refuse = (p: string) => ({
    path: p,
    message: `${p} is stored in plain text in the stack file, where anyone who can read the repository can read it. Store it encrypted with \`${setSecretCommand(p, stack)}\` (it asks for the value), and replace the credential if this file was ever committed`,
  });
  if (key === "berth:secrets" && typeof value === "object" && !Array.isArray(value)) {
    return Object.entries(value)
      .filter(([, v]) => v !== null && !isSecure(v))
      .map(([name]) => refuse(`${key}.${looksLikeCredential(name) ? "<name>" : name}`));
  }
  return [refuse(key)];
}

/** A secret's name, spelt like an environment variable. */
export const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export const CREDENTIAL_AS_NAME =
  "looks like a credential, not the name of one: store the value with `pulumi config set --secret --path 'berth:secrets.NAME'` and write NAME here, then replace the credential, since it was written in plain text";

// Prefixes of well-known credential formats (GitHub, GitLab, Slack, Stripe, OpenAI, AWS, Google,
// Hetzner S3 keys are plain upper-case ids) and PEM blocks.
const CREDENTIAL_PREFIX =
  /^(gh[pousr]_|github_pat_|glpat-|xox[abposr]-|sk_(live|test)_|rk_(live|test)_|sk-|AKIA|ASIA|AIza|-----BEGIN|ssh-|ey[A-Za-z0-9]{10,}\.)/;

/**
 * True for text that could be a credential: a known token format, or a long run of letters and
 * digits mixed the way generated keys are. Names such as RAILS_MASTER_KEY are not, nor is a long
 * word of lower-case letters only, the way host and service names are written (a message about
 * a host name too long for its server must be able to name it); generated keys mix in digits or
 * capitals.
 */
export function looksLikeCredential(text: string): boolean {
  if (CREDENTIAL_PREFIX.test(text)) return true;
  if (text.length < 16) return false;
  return text.split(/[_\s./:@-]+/).some((word) => {
    if (word.length < 16) return false;
    return (/[0-9]/.test(word) && /[A-Za-z]/.test(word)) || (word.length >= 40 && !/^[a-z]+$/.test(word));
  });
}

/** Replaces every word of `text` that could be a credential with a marker. */
export function redact(text: string): string {
  return text.replace(/[A-Za-z0-9_+/=.:@-]{16,}|-----BEGIN[^]*?-----END[^-]*-----/g, (word) => {
    if (!looksLikeCredential(word)) return word;
    return "<redacted: looks like a credential>";
  });
}
