// Command lines that drive accessories' containers: Postgres extensions, role password and backups
// (pg_dump), and Litestream's SQLite copies and restores.
import { privileged, shq } from "./shell";

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
