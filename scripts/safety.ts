// Renders the example stacks under Pulumi's mock runtime, applies each change of guard/changes.ts
// and audits secrets; writes docs/blast-radius.md, docs/secrets-audit.md and the summary table in
// docs/safety.md. `--check` fails if they are out of date.
import * as fs from "node:fs";
import * as path from "node:path";
import * as prettier from "prettier";
import { Classified, classify, shortType, tally } from "../guard/blast";
import { CHANGES, ConfigChange } from "../guard/changes";
import { ENGINE_RULES, PROVIDER_FACTS, WORLD_FACTS } from "../guard/engine";
import { describeStep, Downtime, downtime } from "../guard/lifecycle";
import { REPLACEMENT } from "../guard/replacement";
import { audit, AuditResult, resolveMarked, violations } from "../guard/secrets";
import { EXAMPLE_SECRETS, Recorded, runIndex, stackConfig, testSecret } from "../test/harness";

export const STACKS = ["production", "staging"];

export interface MatrixEntry {
  change: ConfigChange;
  stack: string;
  rows: Classified[];
  /** The same change played step by step after a first deploy (guard/lifecycle.ts). */
  downtime: Downtime;
}

/** Applies every change to every example stack; entries for changes that do not apply are left out. */
export async function blastMatrix(changes = CHANGES): Promise<MatrixEntry[]> {
  const out: MatrixEntry[] = [];
  for (const stack of STACKS) {
    const before = (await runIndex(stack, stackConfig(stack))).resources;
    for (const change of changes) {
      let applies = true;
      const file = stackConfig(stack, (c) => {
        applies = change.apply(stack, c);
      });
      if (!applies) continue;
      const after = (await runIndex(stack, file)).resources;
      out.push({ change, stack, rows: classify(before, after), downtime: downtime(stack, before, after) });
    }
  }
  return out;
}

/** One stack's part in adding or removing an app on the shared server of examples/shared-server. */
export interface SharedServerRow {
  change: string;
  stack: string;
  /** Empty when the change runs no update of this stack. */
  rows: Classified[];
  updated: boolean;
  /** Names on the server (containers, docker volumes, kamal-proxy services) the change's steps touch that this stack uses. */
  clashes: string[];
}

/** What a stack puts on a shared server under its own name: containers, docker volumes, routes. */
export function serverNames(resources: Recorded[]): Set<string> {
  const names = new Set<string>();
  for (const r of resources) {
    if (r.type === "docker:index/container:Container") {
      names.add(`container ${r.inputs.name}`);
      for (const v of r.inputs.volumes ?? []) if (v.volumeName) names.add(`volume ${v.volumeName}`);
    }
    for (const key of ["create", "delete"])
      for (const m of String(r.inputs[key] ?? "").matchAll(/kamal-proxy (?:deploy|remove) ([^\s;]+)/g))
        names.add(`route ${m[1]}`);
  }
  return names;
}

/**
 * Adding the app stack shop beside blog on the server stack apps, and removing it again (pulumi
 * destroy --stack shop): only shop's stack is updated, and none of the names its steps touch is
 * one the server stack or the other app uses.
 */
export async function sharedServerMatrix(): Promise<SharedServerRow[]> {
  const server = await runIndex("apps", stackConfig("apps"));
  const refs = { apps: server.outputs };
  const app = async (name: string) => (await runIndex(name, stackConfig(name), undefined, refs)).resources;
  const blog = await app("blog");
  const shop = await app("shop");
  const touched = serverNames(shop);
  const others = { apps: server.resources, blog };
  const out: SharedServerRow[] = [];
  for (const [change, before, after] of [
    ["add an app (shop) to the shared server", [], shop],
    ["remove an app (shop) from the shared server", shop, []],
  ] as const) {
    for (const [stack, resources] of Object.entries(others))
      out.push({
        change,
        stack,
        rows: [],
        updated: false,
        clashes: [...serverNames(resources)].filter((n) => touched.has(n)),
      });
    out.push({ change, stack: "shop", rows: classify([...before], [...after]), updated: true, clashes: [] });
  }
  return out;
}

/** The downtime cell: which service on which host lost its running target, between which steps. */
export function downtimeCell(d: Downtime): string {
  const step = (i?: number) => (i === undefined ? "the end" : `\`${describeStep(d.steps[i])}\``);
  const parts = d.outages.map((o) => `${o.service} on ${o.host}: ${step(o.from)} to ${step(o.until)}`);
  for (const v of d.database) parts.push(`${v.message.split(":")[0]} rejected by its database at ${step(v.step)}`);
  if (d.failed) parts.push(`**update fails** at ${step(d.failed.index)}: ${d.failed.reason.replace(/^[^:]*: /, "")}`);
  return parts.join("; ") || "none";
}

export const sentinels = (stack: string) =>
  Object.fromEntries((EXAMPLE_SECRETS[stack] ?? []).map((n) => [n, testSecret(`berth:secrets.${n}`)]));

export async function secretsAudit(): Promise<Record<string, AuditResult>> {
  const out: Record<string, AuditResult> = {};
  for (const stack of STACKS) {
    const run = await runIndex(stack, stackConfig(stack));
    out[stack] = audit(run.resources, await resolveMarked(run.exports), sentinels(stack));
  }
  return out;
}

const names = (rows: Classified[], outcome: string) =>
  rows
    .filter((r) => r.outcome === outcome)
    .map((r) => {
      const flags = [r.stateful ? "stateful" : "", r.protectedLoss ? "PROTECTED" : ""].filter(Boolean);
      const keys = r.keys.length && outcome !== "create" && outcome !== "delete" ? ` (${r.keys.join(", ")})` : "";
      return `${shortType(r.resource.type)} \`${r.resource.name}\`${keys}${flags.length ? ` **${flags.join(", ")}**` : ""}`;
    });

export function blastRadiusDoc(matrix: MatrixEntry[], shared: SharedServerRow[] = []): string {
  const lines = [
    "# Blast radius of config changes",
    "",
    "Generated by `npm run safety` from the example stacks (`Pulumi.production.yaml`, `Pulumi.staging.yaml`);",
    "`npm test` fails when it is out of date. Each change is applied to a stack, both renders are compared",
    "resource by resource, and each resource is classified as `pulumi up` would treat it: inputs listed",
    "in `ignoreChanges` do not count, and whether a changed input replaces the resource comes from the",
    "providers (table below). A replaced resource makes every input that reads its outputs unknown, so",
    "those dependents are classified again. **stateful** marks volumes, DNS zones, primary IPs and servers",
    "holding data; **PROTECTED** marks a protected resource the change would replace or delete (`pulumi up`",
    "refuses it until the protection is lifted deliberately).",
    "",
    "**downtime** plays the change the way the engine would run it (`guard/lifecycle.ts`, same replacement rules,",
    "plus which replacements delete first and which names must be unique, `guard/engine.ts`) after a first deploy",
    "of the stack, and names each service a host's kamal-proxy routes to a container that is not running, from",
    "the step that stopped it to the step that brought it back; an app container started with credentials its",
    "database rejects; or the step where the update would fail. Independent steps, which the engine runs in",
    "parallel, are played in one fixed order.",
    "",
    "| change | stack | create | update | replace | delete | stateful replaced/deleted | downtime |",
    "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
  ];
  for (const e of matrix) {
    const t = tally(e.rows);
    const hit = e.rows
      .filter((r) => r.stateful && (r.outcome === "replace" || r.outcome === "delete"))
      .map((r) => `\`${r.resource.name}\`${r.protectedLoss ? " (protected)" : ""}`);
    lines.push(
      `| ${e.change.title} | ${e.stack} | ${t.create} | ${t.update} | ${t.replace} | ${t.delete} | ${hit.join(", ") || "none"} | ${downtimeCell(e.downtime)} |`,
    );
  }
  if (shared.length) {
    lines.push(
      "",
      "## Apps on a shared server",
      "",
      "From `examples/shared-server`: the server stack `apps` owns the server and its kamal-proxy, the app stacks",
      "`blog` and `shop` attach to it (`berth:attach`). Adding an app is the first `pulumi up` of its stack, removing",
      "it is `pulumi destroy` of that stack: no other stack is updated. **names shared** lists every container,",
      "docker volume and kamal-proxy service the change's steps touch on the server that the other stack also uses.",
      "`test/lifecycle.test.ts` plays both changes on one simulated server and checks that `blog` keeps serving.",
      "",
      "| change | stack | create | update | replace | delete | stateful replaced/deleted | names shared |",
      "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    );
    for (const e of shared) {
      const t = tally(e.rows);
      const hit = e.rows.filter((r) => r.stateful && (r.outcome === "replace" || r.outcome === "delete"));
      const counts = e.updated ? `${t.create} | ${t.update} | ${t.replace} | ${t.delete}` : "not updated | | |";
      lines.push(
        `| ${e.change} | ${e.stack} | ${counts} | ${hit.map((r) => `\`${r.resource.name}\``).join(", ") || "none"} | ${e.updated ? "" : e.clashes.join(", ") || "none"} |`,
      );
    }
  }
  lines.push("", "## Details", "");
  for (const e of matrix) {
    lines.push(`### ${e.change.title} (${e.stack})`, "");
    for (const outcome of ["replace", "delete", "create", "update"]) {
      const list = names(e.rows, outcome);
      if (list.length) lines.push(`- ${outcome}: ${list.join("; ")}`);
    }
    if (e.rows.every((r) => r.outcome === "same")) lines.push("- no change");
    lines.push("");
  }
  lines.push(
    "## Which inputs force a replacement",
    "",
    "| resource type | replaced when these inputs change | source |",
    "| --- | --- | --- |",
  );
  for (const [type, rule] of Object.entries(REPLACEMENT))
    lines.push(
      `| ${shortType(type)} | ${rule.replaceOn.map((k) => `\`${k}\``).join(", ") || "none (updated in place)"} | ${rule.source} |`,
    );
  lines.push(
    "",
    "Provider resources (`provider:docker`) are updated in place when their configuration changes.",
    "Limits: an update is assumed to keep a resource's outputs. A replaced server gets a new readiness",
    "gate; every image pull and container on the host carries the gate's id (`berth.host-generation`),",
    "so they are replaced too and the new machine runs them, as the rows above show.",
    "",
    "## Engine and provider rules the downtime column follows",
    "",
    "Kept in `guard/engine.ts`, each with the upstream source it was read from; `npm test` plays the same rules",
    "on sequences of updates (`test/lifecycle.test.ts`).",
    "",
    "| engine rule | source |",
    "| --- | --- |",
    ...ENGINE_RULES.map((r) => `| ${r.rule} | ${r.source} |`),
    "",
    "| resource type | provider fact | source |",
    "| --- | --- | --- |",
    ...PROVIDER_FACTS.map(
      (f) =>
        `| ${shortType(f.type)} | ${f.deleteBeforeReplace ? "replaced delete-first" : `\`${f.unique!.input}\` unique per ${f.unique!.scope} (${f.unique!.kind})`} | ${f.source} |`,
    ),
    "",
    "| what the simulated world does | source |",
    "| --- | --- |",
    ...WORLD_FACTS.map((f) => `| ${f.fact} | ${f.source} |`),
    "",
  );
  return lines.join("\n");
}

export function secretsAuditDoc(results: Record<string, AuditResult>): string {
  const lines = [
    "# Secrets audit",
    "",
    "Generated by `npm run safety`. Every secret of the example stacks gets a distinct sentinel value; both",
    "stacks are rendered and every resource name, every string of every resource input, every stack output",
    "and every command is searched for each sentinel, plain, base64- and URL-encoded. A sentinel may only",
    "appear inside a Pulumi secret, never in a name, and never in a command line (`create`, `update`,",
    "`delete`), secret or not: files and passwords reach servers through secret `stdin`.",
    "`BERTH_FINGERPRINT_KEY` reaches nothing: it only keys the fingerprints in app container names.",
    "",
    "| stack | secrets | resources | strings scanned | command lines | output strings | sentinel hits (all inside secrets) | violations |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const [stack, r] of Object.entries(results)) {
    const bad = violations(r);
    lines.push(
      `| ${stack} | ${Object.keys(sentinels(stack)).length} | ${r.resources} | ${r.strings} | ${r.commandStrings} | ${r.outputs} | ${r.findings.length - bad.length} | ${bad.length} |`,
    );
  }
  lines.push("", "Where each secret lands (always wrapped as a Pulumi secret):", "");
  for (const [stack, r] of Object.entries(results)) {
    const bySecret = new Map<string, Set<string>>();
    for (const f of r.findings) {
      const place = f.where.replace(/\[\d+\]/g, "[]");
      if (!bySecret.has(f.secretName)) bySecret.set(f.secretName, new Set());
      bySecret.get(f.secretName)!.add(f.form === "plain" ? place : `${place} (${f.form})`);
    }
    for (const [name, places] of [...bySecret].sort())
      lines.push(
        `- ${stack} \`${name}\`: ${[...places]
          .sort()
          .map((p) => `\`${p}\``)
          .join(", ")}`,
      );
  }
  lines.push("");
  return lines.join("\n");
}

/** The page that holds the summary table between these markers. */
const SUMMARY_PAGE = "docs/safety.md";
const README_START = "<!-- blast-radius:start (generated by npm run safety) -->";
const README_END = "<!-- blast-radius:end -->";

/** The README's summary: one row per change, what it does on each stack. */
export function readmeSummary(matrix: MatrixEntry[]): string {
  const cell = (e?: MatrixEntry) => {
    if (!e) return "n/a";
    const t = tally(e.rows);
    const parts = (["create", "update", "replace", "delete"] as const).filter((k) => t[k]).map((k) => `${k} ${t[k]}`);
    const lost = e.rows.filter((r) => r.stateful && (r.outcome === "replace" || r.outcome === "delete"));
    const flag = lost.length
      ? `; **${lost.some((r) => r.protectedLoss) ? "blocked: replaces protected" : "removes"} ${lost.map((r) => r.resource.name).join(", ")}**`
      : "";
    return `${parts.join(", ") || "no change"}${flag}`;
  };
  const rows = [...new Set(matrix.map((m) => m.change))].map(
    (c) =>
      `| ${c.title} | ${STACKS.map((s) => cell(matrix.find((m) => m.change === c && m.stack === s))).join(" | ")} |`,
  );
  return [
    README_START,
    "",
    `| change | ${STACKS.join(" | ")} |`,
    `| --- | ${STACKS.map(() => "---").join(" | ")} |`,
    ...rows,
    "",
    README_END,
  ].join("\n");
}

function withReadmeSummary(readme: string, summary: string): string {
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start < 0 || end < start) throw new Error(`${SUMMARY_PAGE} needs the markers ${README_START} and ${README_END}`);
  return readme.slice(0, start) + summary + readme.slice(end + README_END.length);
}

const format = (text: string) => prettier.format(text, { parser: "markdown", printWidth: 120 });

/** The files the blast-radius matrix writes: its document and the summary table of docs/safety.md. */
export async function blastDocs(root: string, matrix: MatrixEntry[]): Promise<Record<string, string>> {
  const readme = fs.readFileSync(path.join(root, SUMMARY_PAGE), "utf8");
  return {
    "docs/blast-radius.md": await format(blastRadiusDoc(matrix, await sharedServerMatrix())),
    [SUMMARY_PAGE]: await format(withReadmeSummary(readme, readmeSummary(matrix))),
  };
}

/** The file the secrets audit writes. */
export async function auditDocs(results: Record<string, AuditResult>): Promise<Record<string, string>> {
  return { "docs/secrets-audit.md": await format(secretsAuditDoc(results)) };
}

/** Each generated file that differs from what is committed under `root`. */
export function staleDocs(root: string, docs: Record<string, string>): string[] {
  return Object.entries(docs)
    .filter(([file, text]) => {
      const target = path.join(root, file);
      return !fs.existsSync(target) || fs.readFileSync(target, "utf8") !== text;
    })
    .map(([file]) => file);
}

export async function generatedDocs(root: string): Promise<Record<string, string>> {
  return { ...(await blastDocs(root, await blastMatrix())), ...(await auditDocs(await secretsAudit())) };
}

// `npm run safety` writes the files; `npm test` checks them (test/blast.test.ts and
// test/secrets.test.ts, from the matrix and audit they compute anyway); `--check` checks alone.
if (require.main === module) {
  (async () => {
    const root = path.resolve(__dirname, "..");
    const docs = await generatedDocs(root);
    if (process.argv.includes("--check")) {
      const stale = staleDocs(root, docs);
      for (const file of stale) console.error(`${file} is out of date: run npm run safety`);
      process.exit(stale.length ? 1 : 0);
    }
    for (const [file, text] of Object.entries(docs)) {
      fs.writeFileSync(path.join(root, file), text);
      console.log(`wrote ${file}`);
    }
  })().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
