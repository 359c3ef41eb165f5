import { ImportContext } from "../context";
import { PLACEHOLDER_PREFIX } from "../kamal";
import { stringValues } from "./container";

const BUILDER_KEYS = [
  "arch",
  "remote",
  "local",
  "pack",
  "cache",
  "context",
  "dockerfile",
  "target",
  "args",
  "secrets",
  "ssh",
  "driver",
  "provenance",
  "sbom",
];

export function mapBuilder(ctx: ImportContext, value: unknown): Record<string, unknown> | undefined {
  const { hash, knownKeys, strings, str, problem, skip, skipKeys, local } = ctx;
  const b = hash(value, "builder");
  if (!b) return undefined;
  knownKeys(b, BUILDER_KEYS, "builder");
  const out: Record<string, unknown> = {};
  const arch = Array.isArray(b.arch) ? strings(b.arch, "builder/arch") : [str(b.arch, "builder/arch")];
  const arches = (arch ?? []).filter((a): a is string => a !== undefined);
  // An ERB tag import could not evaluate stays a placeholder, which the stack refuses until filled in.
  if (arches.length === 1 && arches[0].startsWith(PLACEHOLDER_PREFIX)) out.arch = arches[0];
  else if (arches.some((a) => a !== "amd64" && a !== "arm64")) problem("builder/arch", "should be amd64 or arm64");
  else if (arches.length > 0) {
    out.arch = arches[0];
    if (arches.length > 1) skip("builder/arch", `berth builds one architecture (${arches[0]} kept)`);
  }
  const context = str(b.context, "builder/context");
  out.context = local(context ?? ".");
  const dockerfile = str(b.dockerfile, "builder/dockerfile");
  if (dockerfile !== undefined) out.dockerfile = dockerfile;
  const target = str(b.target, "builder/target");
  if (target !== undefined) out.target = target;
  const args = hash(b.args, "builder/args");
  if (args) out.args = stringValues(args);
  const reasons: Record<string, string> = {
    remote: "berth builds with the docker engine of the machine running pulumi",
    local: "berth builds with the docker engine of the machine running pulumi",
    pack: "berth builds from a Dockerfile; no buildpacks",
    cache: "berth has no build cache settings yet",
    secrets: "berth passes no build secrets yet; use args for non-secret values",
    ssh: "berth forwards no SSH agent into builds",
    driver: "berth uses the default docker builder",
    provenance: "berth sets no provenance attestations",
    sbom: "berth sets no SBOM attestations",
  };
  skipKeys(b, reasons, "builder");
  return out;
}
