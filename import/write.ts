// Writes an imported configuration as Pulumi.<stack>.yaml, in the style of the example stacks,
// and checks it against berth's schema before anything is written.
import { isDeepStrictEqual } from "node:util";
import { Document, isScalar, isSeq, parse, visit } from "yaml";
import { parseConfig } from "../config/load";
import { DeployConfig, FINGERPRINT_KEY } from "../config/schema";
import { PLACEHOLDER_PREFIX } from "./kamal";
import { ImportResult } from "./map";

/**
 * The command that stores one secret; the value is never part of what berth prints or writes. The
 * fingerprint key is random: the command generates it.
 */
export const secretCommand = (name: string) =>
  name === FINGERPRINT_KEY
    ? `openssl rand -hex 32 | pulumi config set --secret --path 'berth:secrets.${name}'`
    : `pulumi config set --secret --path 'berth:secrets.${name}' <value>`;

/**
 * Validates the imported configuration the way the stack will: secret values, which the user
 * sets later with `pulumi config set --secret`, are stood in for by their names only.
 */
export function validateImport(result: ImportResult, stack: string, projectDir: string): DeployConfig | undefined {
  const secrets = Object.fromEntries(result.secrets.map((s) => [s.name, `stand-in-value-of-${s.name}`]));
  // Placeholders are written on purpose; the stack refuses them until they are filled in.
  return parseConfig({ ...result.config, secrets }, stack, `imported stack ${stack}`, projectDir, {
    allowPlaceholders: true,
  });
}

/** What an existing stack file holds that the import must keep or must not overwrite. */
export interface ExistingStack {
  /** Settings Pulumi and the user added: encryptionsalt, secrets provider, hcloud:token, berth:secrets. */
  kept: Record<string, unknown>;
  keptConfig: Record<string, unknown>;
  /** The berth settings it has now, without berth:secrets. */
  berth: Record<string, unknown>;
}

export function readExisting(text: string): ExistingStack {
  const doc = (parse(text) ?? {}) as Record<string, unknown>;
  const { config, ...kept } = doc;
  const keptConfig: Record<string, unknown> = {};
  const berth: Record<string, unknown> = {};
  for (const [k, v] of Object.entries((config ?? {}) as Record<string, unknown>)) {
    if (k.startsWith("berth:") && k !== "berth:secrets") berth[k.slice("berth:".length)] = v;
    else keptConfig[k] = v;
  }
  return { kept, keptConfig, berth };
}

/** True when writing would replace berth settings the file already has with different ones. */
export function wouldOverwrite(existing: ExistingStack, result: ImportResult): boolean {
  return Object.keys(existing.berth).length > 0 && !isDeepStrictEqual(existing.berth, result.config);
}

/**
 * The text of Pulumi.<stack>.yaml. The same input always gives the same text. What Pulumi and
 * the user added to an existing file (encryption salt, hcloud:token, berth:secrets) is kept.
 */
export function stackFileText(result: ImportResult, sources: string[], existing?: ExistingStack): string {
  const header: string[] = [`Imported from ${sources.join(" + ")} by \`berth import\`.`];
  if (result.placeholders.length > 0) {
    header.push(`Fill in every value starting with "${PLACEHOLDER_PREFIX}":`);
    result.placeholders.forEach((p) => header.push(`  ${p.value}: ${p.what}`));
  }
  if (result.secrets.length > 0) {
    header.push("Secrets this stack needs (never written here); set each with:");
    result.secrets.forEach((s) => header.push(`  ${secretCommand(s.name)}`));
  }
  if (result.notes.length > 0) {
    header.push("Changes from the Kamal configuration:");
    result.notes.forEach((n) => header.push(`  ${n}`));
  }
  if (result.unmapped.length > 0) {
    header.push("Kamal settings with no berth equivalent yet (not imported):");
    result.unmapped.forEach((u) => header.push(`  ${u.key}: ${u.reason}`));
  }

  const config = {
    ...Object.fromEntries(Object.entries(result.config).map(([k, v]) => [`berth:${k}`, v])),
    ...existing?.keptConfig,
  };
  const doc = new Document({ ...existing?.kept, config });
  visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== "string" || !node.value.includes(PLACEHOLDER_PREFIX)) return;
      const p = result.placeholders.find((p) => (node.value as string).includes(p.value));
      node.comment = ` FILL IN: ${p?.what ?? "your value"}`;
    },
    Seq(_key, node) {
      // Short lists of plain values read best on one line, as in the example stacks.
      if (node.items.every((i) => isScalar(i) && !i.comment && String(i.value).length < 40) && node.items.length <= 4) {
        node.flow = true;
      }
    },
  });
  // A flow list cannot carry a comment per item; such lists go back to block style.
  visit(doc, {
    Seq(_key, node) {
      if (isSeq(node) && node.items.some((i) => isScalar(i) && i.comment)) node.flow = false;
    },
  });
  doc.commentBefore = header.map((l) => ` ${l}`).join("\n");
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}
