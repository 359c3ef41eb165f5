// Command lines around the app's containers on a host: their names and image references, the
// readiness wait of roles without proxy, asset bridging between versions, and the image prune.
import { shq } from "./shell";

/** A version as it may appear in container and resource names: digests become `sha256-<12 hex>`. */
export function versionLabel(version: string): string {
  return version.startsWith("sha256:") ? `sha256-${version.slice(7, 19)}` : version;
}

/** Image reference for a version: `repo:tag` or `repo@sha256:...`. */
export function imageRef(image: string, version: string): string {
  return version.startsWith("sha256:") ? `${image}@${version}` : `${image}:${version}`;
}

/**
 * An app container's name: Kamal's `<service>-<role>-<destination>-<version>`, then the role's
 * fingerprint (components/app.ts `roleRun`), so a container that runs anything differently gets a
 * new name and is started beside the old one, never in its place.
 */
export function containerName(service: string, role: string, stack: string, version: string, fp: string): string {
  return `${service}-${role}-${stack}-${versionLabel(version)}-${fp}`;
}

/**
 * For roles without proxy: the step is done once the container is healthy (when the image has
 * a health check) or has kept running, without restarts, for `delay` seconds.
 */
export function awaitRunningScript(container: string, delay: number, timeout: number): string {
  const c = shq(container);
  return [
    "set -eu",
    "started=$(date +%s)",
    `deadline=$((started + ${timeout}))`,
    "while :; do",
    `  state=$(docker inspect --format '{{.State.Status}} {{.RestartCount}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' ${c})`,
    "  # shellcheck disable=SC2086 # split the three words of the state on purpose",
    "  set -- $state",
    '  if [ "$1" != running ] || [ "$2" != 0 ] || [ "$3" = unhealthy ]; then',
    `    echo ${shq(`berth: ${container} is not running cleanly (status, restarts, health):`)} "$state" >&2`,
    `    docker logs --tail 50 ${c} >&2 2>&1 || true`,
    "    exit 1",
    "  fi",
    '  if [ "$3" = healthy ]; then break; fi',
    `  if [ "$3" = none ] && [ $(($(date +%s) - started)) -ge ${delay} ]; then break; fi`,
    '  if [ "$(date +%s)" -ge "$deadline" ]; then',
    `    echo ${shq(`berth: ${container} did not become ready within ${timeout}s`)} >&2`,
    "    exit 1",
    "  fi",
    "  sleep 1",
    "done",
    `echo ${shq(`berth: ${container} ready`)}`,
    "",
  ].join("\n");
}

export interface PruneArgs {
  /** The app's image repository: only its images are ever removed. */
  image: string;
  /** The image reference just deployed on the host (`repo:tag` or `repo@sha256:...`). */
  ref: string;
  /** How many of this stack's deployed images to keep (berth:retainContainers). */
  keep: number;
  /** This stack's directory on the host; its `deployed-images` lists its deploys, newest last. */
  dir: string;
  /** Parent of every stack's directory on the host: images another stack keeps are kept too. */
  appsRoot: string;
}

/**
 * Runs after the host's switch: records `ref` as this stack's newest deploy, keeps the last
 * `keep` deployed images of every stack on the host (a rollback needs no pull, and two stacks of
 * one app on one host keep each other's), and removes the app's other images. An image that a
 * container still uses, running or stopped, is refused by `docker image rm` without -f and stays.
 */
export function pruneImagesScript(a: PruneArgs): string {
  return [
    "set -eu",
    `list=${shq(`${a.dir}/deployed-images`)}`,
    `ref=${shq(a.ref)}`,
    'mkdir -p "$(dirname "$list")"',
    'touch "$list"',
    `{ grep -vxF -- "$ref" "$list" || true; printf '%s\\n' "$ref"; } | tail -n ${a.keep} > "$list.tmp"`,
    'mv "$list.tmp" "$list"',
    `keep=$(cat ${shq(a.appsRoot)}/*/deployed-images 2>/dev/null | while IFS= read -r r; do docker image inspect --format '{{.Id}}' "$r" 2>/dev/null || true; done)`,
    `docker image ls --no-trunc --filter ${shq(`reference=${a.image}`)} --format '{{.ID}}' | awk '!seen[$0]++' |`,
    "  while read -r id; do",
    '    case "$keep" in *"$id"*) continue ;; esac',
    '    docker image rm "$id" >/dev/null 2>&1 || true',
    "  done",
    "",
  ].join("\n");
}

export interface AssetArgs {
  /** Directory on the host holding the app's asset copies. */
  dir: string;
  role: string;
  version: string;
  /**
   * The image as present on the host: the id its pull resolved to. Never a reference to pull:
   * hosts hold no registry login (every pull goes through the docker provider with
   * berth:registry), and with berth:builder only the pushed digest was pulled, not the tag.
   */
  image: string;
  assetPath: string;
  keep: number;
}

/** Host directory mounted at the asset path of a role's container for a version. */
export function assetVolumeDir(a: Pick<AssetArgs, "dir" | "role" | "version">): string {
  return `${a.dir}/volumes/${a.role}-${versionLabel(a.version)}`;
}

/**
 * Kamal's asset bridging: extract the new version's assets, give the new container the old
 * versions' assets too and the old containers the new ones, so a request for either
 * version's fingerprinted files finds them on whichever container answers during a switch.
 */
export function assetScript(a: AssetArgs): string {
  const label = `${a.role}-${versionLabel(a.version)}`;
  return [
    "set -eu",
    `dir=${shq(a.dir)}`,
    `new="$dir/volumes/${label}"`,
    `extracted="$dir/extracted/${label}"`,
    'mkdir -p "$dir/volumes" "$dir/extracted"',
    'if [ ! -d "$extracted" ]; then',
    '  rm -rf "$extracted.tmp"',
    '  mkdir -p "$extracted.tmp"',
    `  cid=$(docker container create --pull never ${shq(a.image)})`,
    `  docker cp "$cid:${a.assetPath}/." "$extracted.tmp"`,
    '  docker container rm "$cid" >/dev/null',
    '  mv "$extracted.tmp" "$extracted"',
    "fi",
    'mkdir -p "$new"',
    'cp -a "$extracted/." "$new/"',
    `for old in "$dir/volumes/${a.role}-"*; do`,
    '  [ "$old" = "$new" ] && continue',
    '  cp -an "$old/." "$new/"',
    '  cp -an "$extracted/." "$old/"',
    "done",
    `# keep the newest ${a.keep} versions' copies`,
    `for kind in volumes extracted; do`,
    "  # shellcheck disable=SC2012 # names are <role>-<version> labels; ls -t sorts them by age",
    `  ls -1dt "$dir/$kind/${a.role}-"* 2>/dev/null | tail -n +${a.keep + 1} | while read -r stale; do rm -rf "$stale"; done`,
    "done",
    "",
  ].join("\n");
}
