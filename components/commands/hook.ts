// Kamal's hooks, run on the deploying machine during a deploy.
import { shq } from "./shell";

/** The hooks Kamal runs during a deploy, in order. */
export const HOOKS = ["pre-build", "pre-deploy", "pre-app-boot", "post-app-boot", "post-deploy"] as const;
export type HookName = (typeof HOOKS)[number];

/**
 * Runs a Kamal hook from the hooks directory on the deploying machine, if it exists, with the
 * variables Kamal sets that change per run (time, performer, runtime). The static ones come
 * through the command's environment.
 */
export function hookScript(hooksPath: string, hook: HookName, stateFile: string): string {
  const lines = ["set -eu"];
  if (hook === "pre-deploy") lines.push(`mkdir -p "$(dirname ${shq(stateFile)})"`, `date +%s > ${shq(stateFile)}`);
  lines.push(
    `hook=${shq(`${hooksPath}/${hook}`)}`,
    '[ -e "$hook" ] || exit 0',
    "KAMAL_RECORDED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)",
    "KAMAL_PERFORMER=$(git config user.email 2>/dev/null || whoami)",
    "BERTH_RECORDED_AT=$KAMAL_RECORDED_AT",
    "BERTH_PERFORMER=$KAMAL_PERFORMER",
    "export KAMAL_RECORDED_AT KAMAL_PERFORMER BERTH_RECORDED_AT BERTH_PERFORMER",
  );
  if (hook === "post-deploy") {
    lines.push(
      `if [ -f ${shq(stateFile)} ]; then`,
      `  KAMAL_RUNTIME=$(( $(date +%s) - $(cat ${shq(stateFile)}) ))`,
      "  BERTH_RUNTIME=$KAMAL_RUNTIME",
      "  export KAMAL_RUNTIME BERTH_RUNTIME",
      "fi",
    );
  }
  lines.push('exec "$hook"', "");
  return lines.join("\n");
}
