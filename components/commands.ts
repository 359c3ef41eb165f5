// Command lines berth runs on hosts (and, for hooks, on the deploying machine) during a deploy.
// Pure functions from settings to text, like Kamal's command objects: unit-tested, and every
// result goes through shellcheck in the tests. No secret ever reaches these strings.
import { ResolvedProxy } from "../config/schema";
import { privileged } from "./bootstrap";

import { PROXY_CONTAINER } from "../config/names";

export { PROXY_CONTAINER };

/** Quotes a value for POSIX sh. */
export function shq(value: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

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

/** The kamal-proxy service a role's containers are deployed under. */
export function proxyService(service: string, role: string, stack: string): string {
  return `${service}-${role}-${stack}`;
}

/** `kamal-proxy deploy` flags for a role, as Kamal 2 passes them. */
export function proxyDeployArgs(target: string, p: ResolvedProxy): string[] {
  const args = [`--target=${target}:${p.appPort}`];
  for (const host of p.hosts) args.push(`--host=${host}`);
  for (const prefix of p.pathPrefixes) args.push(`--path-prefix=${prefix}`);
  if (p.ssl) args.push("--tls", `--tls-redirect=${p.sslRedirect}`);
  if (p.ssl && p.certificate)
    args.push(
      `--tls-certificate-path=${p.certificate.certificatePath}`,
      `--tls-private-key-path=${p.certificate.privateKeyPath}`,
    );
  args.push(
    `--deploy-timeout=${p.deployTimeout}s`,
    `--drain-timeout=${p.drainTimeout}s`,
    `--health-check-path=${p.healthcheck.path}`,
    `--health-check-interval=${p.healthcheck.interval}s`,
    `--health-check-timeout=${p.healthcheck.timeout}s`,
    ...(p.healthcheck.port !== undefined ? [`--health-check-port=${p.healthcheck.port}`] : []),
    `--target-timeout=${p.responseTimeout}s`,
    `--buffer-requests=${p.buffering.requests}`,
    `--buffer-responses=${p.buffering.responses}`,
  );
  if (p.buffering.memory !== undefined) args.push(`--buffer-memory=${p.buffering.memory}`);
  if (p.buffering.maxRequestBody !== undefined) args.push(`--max-request-body=${p.buffering.maxRequestBody}`);
  if (p.buffering.maxResponseBody !== undefined) args.push(`--max-response-body=${p.buffering.maxResponseBody}`);
  if (p.forwardHeaders !== undefined) args.push(`--forward-headers=${p.forwardHeaders}`);
  return args;
}

/**
 * Switches a role's traffic on this host to `container`: kamal-proxy health-checks it, moves
 * traffic over and drains the old one. On failure the old version keeps serving and the
 * update fails with the container's last log lines.
 */
export function proxySwitchScript(service: string, container: string, p: ResolvedProxy): string {
  const deploy = [
    "docker",
    "exec",
    PROXY_CONTAINER,
    "kamal-proxy",
    "deploy",
    service,
    ...proxyDeployArgs(container, p),
  ];
  return [
    "set -eu",
    `if ! ${deploy.map(shq).join(" ")}; then`,
    `  echo ${shq(`berth: ${container} did not pass its health check (GET ${p.healthcheck.path} on port ${p.appPort}) within ${p.deployTimeout}s; the previous version keeps serving. Last log lines:`)} >&2`,
    `  docker logs --tail 50 ${shq(container)} >&2 2>&1 || true`,
    "  exit 1",
    "fi",
    `echo ${shq(`berth: ${service} now served by ${container}`)}`,
    "",
  ].join("\n");
}

/**
 * The route step's script: the switch to `container`, headed by the ids of the container and of
 * kamal-proxy's container. The step records in Pulumi's state what it last routed to; the ids
 * make a container or a kamal-proxy created again (a replaced server, whose kamal-proxy starts
 * empty) a change of its script, so the route is asserted again. Changing the script updates the
 * step in place; it is never replaced, since a replacement would delete the old step and with
 * it (its delete) the route.
 */
export function routeScript(
  service: string,
  container: string,
  p: ResolvedProxy,
  ids: { container: string; proxy?: string; certificate?: string },
): string {
  return [
    `# berth: route ${service} to container ${ids.container}${ids.proxy ? ` through kamal-proxy container ${ids.proxy}` : ""}${ids.certificate ? ` with certificate ${ids.certificate}` : ""}`,
    proxySwitchScript(service, container, p),
  ].join("\n");
}

/** Removes a role's route from kamal-proxy: the one place a route is ever removed. */
export function proxyRemoveScript(service: string): string {
  return `docker exec ${PROXY_CONTAINER} kamal-proxy remove ${shq(service)} || true\n`;
}

/** Puts the role behind kamal-proxy's maintenance page, or takes it back out. */
export function maintenanceScript(service: string, on: boolean, drainTimeout: number, message?: string): string {
  if (!on) return `docker exec ${PROXY_CONTAINER} kamal-proxy resume ${shq(service)}\n`;
  const args = [`--drain-timeout=${drainTimeout}s`, ...(message ? [`--message=${message}`] : [])];
  return `docker exec ${PROXY_CONTAINER} kamal-proxy stop ${shq(service)} ${args.map(shq).join(" ")}\n`;
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

// Accessories: the files, directories, checks, restores and backups around their containers.

/**
 * Writes stdin to `path` with `mode`, atomically. File contents travel on stdin, never in the
 * command line, so a config file may hold a credential.
 */
export function writeFileScript(path: string, mode: string): string {
  return [
    "set -eu",
    ...privileged,
    `target=${shq(path)}`,
    'as_root mkdir -p "$(dirname "$target")"',
    "# shellcheck disable=SC2016 # $1 is expanded by the inner shell, run as root",
    'as_root sh -c \'umask 077; cat > "$1.tmp"\' sh "$target"',
    `as_root chmod ${mode} "$target.tmp"`,
    'as_root mv "$target.tmp" "$target"',
    "",
  ].join("\n");
}

/** Creates an accessory's host directories (on its volume when it has one). */
export function directoriesScript(dirs: string[]): string {
  return ["set -eu", ...privileged, ...dirs.map((d) => `as_root mkdir -p ${shq(d)}`), ""].join("\n");
}

/** Enables Postgres extensions, once the database answers. */
export function postgresExtensionsScript(container: string, user: string, database: string, extensions: string[]) {
  const sql = extensions.map((e) => `CREATE EXTENSION IF NOT EXISTS "${e}";`).join(" ");
  return [
    "set -eu",
    `docker exec ${shq(container)} psql -v ON_ERROR_STOP=1 -U ${shq(user)} -d ${shq(database)} -c ${shq(sql)}`,
    `echo ${shq(`berth: extensions ${extensions.join(", ")} enabled in ${database}`)}`,
    "",
  ].join("\n");
}

/** Deletes all but the newest `keep` files matching a glob in a directory. */
function keepNewest(dir: string, glob: string, keep: number): string[] {
  return [
    "# shellcheck disable=SC2012 # backup names carry no newlines; ls -t sorts them by age",
    `ls -1t ${shq(dir)}/${glob} 2>/dev/null | tail -n +${keep + 1} | while read -r old; do as_root rm -f "$old"; done`,
  ];
}

/**
 * A custom-format pg_dump of the database into `dir`, before a deploy; keeps the newest `keep`.
 * The dump writes its file from one shell, so the step's status is pg_dump's own (POSIX sh has
 * no pipefail: `pg_dump | cat` would report cat's). A dump that failed or wrote nothing stops the
 * deploy, is never renamed to `.dump`, and the older backups stay untouched.
 */
export function postgresBackupScript(a: {
  container: string;
  user: string;
  database: string;
  dir: string;
  label: string;
  keep: number;
}): string {
  const file = `${a.dir}/${a.database}-${a.label}`;
  const what = `pg_dump of ${a.database} in ${a.container}`;
  return [
    "set -eu",
    ...privileged,
    `as_root mkdir -p ${shq(a.dir)}`,
    `out=${shq(file)}-$(date -u +%Y%m%dT%H%M%SZ).dump`,
    "status=0",
    "# shellcheck disable=SC2016 # $1..$4 are expanded by the inner shell, run as root",
    `as_root sh -c 'docker exec "$1" pg_dump -U "$2" -Fc "$3" > "$4.tmp"' sh ${shq(a.container)} ${shq(a.user)} ${shq(a.database)} "$out" || status=$?`,
    'if [ "$status" -ne 0 ] || [ ! -s "$out.tmp" ]; then',
    '  as_root rm -f "$out.tmp"',
    '  if [ "$status" -ne 0 ]; then',
    `    echo ${shq(`berth: ${what} failed`)}" (exit $status); the deploy stops before any new container starts. Older backups are kept." >&2`,
    "  else",
    `    echo ${shq(`berth: ${what} wrote nothing; the deploy stops before any new container starts. Older backups are kept.`)} >&2`,
    "  fi",
    "  exit 1",
    "fi",
    'as_root mv "$out.tmp" "$out"',
    ...keepNewest(a.dir, `${shq(a.database)}-*.dump`, a.keep),
    'echo "berth: database backed up to $out"',
    "",
  ].join("\n");
}

/** What postgresPasswordScript reads on stdin: the password and its confirmation. */
export function postgresPasswordStdin(password: string): string {
  return `${password}\n${password}\n`;
}

/**
 * Sets the password of the database's role to the one on stdin (given twice: psql's `\password`
 * asks for it and its confirmation). psql hashes it (SCRAM) before sending, so the password is in
 * no command line, SQL statement or server log. The Postgres image applies POSTGRES_PASSWORD only
 * when it initialises an empty data directory (docker-library/postgres docker-entrypoint.sh), so
 * this is how a rotated password reaches a running database, before apps get the new URL.
 */
export function postgresPasswordScript(container: string, user: string, database: string): string {
  return [
    "set -eu",
    `docker exec -i ${shq(container)} psql -X -q -v ON_ERROR_STOP=1 -U ${shq(user)} -d ${shq(database)} -c ${shq(`\\password ${user}`)}`,
    `echo ${shq(`berth: password of database role ${user} is the configured one`)}`,
    "",
  ].join("\n");
}

/** Where Litestream's container sees the app volume and its own config. */
export const LITESTREAM_DATA = "/data";
export const LITESTREAM_CONFIG = "/etc/litestream.yml";

/**
 * A consistent copy of each SQLite database, taken with `litestream restore -o` inside the
 * running Litestream container (which holds the storage credentials), into `backups/` of the
 * app volume; keeps the newest `keep` per database. A database not replicated yet (the first
 * deploy) has nothing to copy and is skipped.
 */
export function sqliteBackupScript(a: { container: string; databases: string[]; label: string; keep: number }) {
  const lines = ["set -eu", "stamp=$(date -u +%Y%m%dT%H%M%SZ)", `c=${shq(a.container)}`];
  lines.push(`docker exec "$c" mkdir -p ${LITESTREAM_DATA}/backups`);
  for (const db of a.databases) {
    const base = db.replace(/\//g, "_");
    lines.push(
      `docker exec "$c" litestream restore -config ${LITESTREAM_CONFIG} -if-replica-exists -o ${shq(`${LITESTREAM_DATA}/backups/${base}-${a.label}`)}-"$stamp" ${shq(`${LITESTREAM_DATA}/${db}`)}`,
      `docker exec "$c" sh -c ${shq(`ls -1t ${LITESTREAM_DATA}/backups/${base}-* | tail -n +${a.keep + 1} | xargs -r rm -f`)}`,
    );
  }
  lines.push(`echo ${shq(`berth: ${a.databases.length} SQLite database(s) copied to backups/ in the app volume`)}`, "");
  return lines.join("\n");
}

/**
 * Restores each SQLite database from its replica when the file is missing (a fresh or replaced
 * host), before the app or Litestream itself starts. The storage credentials arrive on stdin,
 * one per line, and reach `docker run` through its environment, never its arguments.
 */
export function litestreamRestoreScript(a: {
  image: string;
  volume: string;
  configPath: string;
  databases: string[];
  owner: string;
}): string {
  const run = [
    "docker run --rm -e LITESTREAM_ACCESS_KEY_ID -e LITESTREAM_SECRET_ACCESS_KEY",
    `-v ${shq(`${a.volume}:${LITESTREAM_DATA}`)} -v ${shq(`${a.configPath}:${LITESTREAM_CONFIG}:ro`)}`,
    shq(a.image),
  ].join(" ");
  const lines = [
    "set -eu",
    "IFS= read -r LITESTREAM_ACCESS_KEY_ID",
    "IFS= read -r LITESTREAM_SECRET_ACCESS_KEY",
    "export LITESTREAM_ACCESS_KEY_ID LITESTREAM_SECRET_ACCESS_KEY",
  ];
  for (const db of a.databases) {
    lines.push(
      `${run} restore -config ${LITESTREAM_CONFIG} -if-db-not-exists -if-replica-exists ${shq(`${LITESTREAM_DATA}/${db}`)}`,
    );
  }
  // The app's user must own what was restored (Rails' image runs as 1000:1000).
  lines.push(
    `docker run --rm --entrypoint chown -v ${shq(`${a.volume}:${LITESTREAM_DATA}`)} ${shq(a.image)} -R ${shq(a.owner)} ${LITESTREAM_DATA}`,
    `echo ${shq(`berth: SQLite databases in volume ${a.volume} restored where missing`)}`,
    "",
  );
  return lines.join("\n");
}
