// Command lines that prepare a host: the readiness gate (cloud-init done, Docker up, the shared
// network), data volume mounts, and files and directories written as root.
import { DOCKER_NETWORK } from "../bootstrap";
import { privileged, shq } from "./shell";

/** How long the readiness gate waits for cloud-init and Docker before failing the update. */
export const READY_TIMEOUT_SECONDS = 600;

/**
 * The readiness gate: waits (bounded) until cloud-init has finished and Docker answers, and
 * makes sure the shared docker network exists. Works on existing machines without cloud-init.
 */
export function readinessScript(host: string, timeoutSeconds = READY_TIMEOUT_SECONDS): string {
  return [
    "set -eu",
    ...privileged,
    `deadline=$(( $(date +%s) + ${timeoutSeconds} ))`,
    "if command -v cloud-init >/dev/null 2>&1; then",
    "  status=0",
    `  timeout ${timeoutSeconds} cloud-init status --wait >/dev/null 2>&1 || status=$?`,
    "  # 2 means finished with recoverable warnings, which is fine",
    '  if [ "$status" -ne 0 ] && [ "$status" -ne 2 ]; then',
    `    echo "berth: host ${host}: cloud-init did not finish (exit $status) within ${timeoutSeconds}s:" >&2`,
    "    cloud-init status --long >&2 || true",
    "    exit 1",
    "  fi",
    "fi",
    "until as_root docker info >/dev/null 2>&1; do",
    '  if [ "$(date +%s)" -ge "$deadline" ]; then',
    `    echo "berth: host ${host}: docker did not answer within ${timeoutSeconds}s; check 'systemctl status docker' on the host" >&2`,
    "    exit 1",
    "  fi",
    "  sleep 3",
    "done",
    `as_root docker network inspect ${DOCKER_NETWORK} >/dev/null 2>&1 || as_root docker network create ${DOCKER_NETWORK} >/dev/null`,
    `echo "berth: host ${host} ready"`,
    "",
  ].join("\n");
}

export interface MountArgs {
  host: string;
  volume: string;
  /** Block device of the volume, e.g. hetznerVolumeDevice(id). */
  device: string;
  format: "ext4" | "xfs";
  mountPath: string;
}

/** The stable device path under which a Hetzner volume appears on its server. */
export function hetznerVolumeDevice(volumeId: string): string {
  return `/dev/disk/by-id/scsi-0HC_Volume_${volumeId}`;
}

/**
 * Mount options of a data volume. `nofail` keeps a server that lost its volume bootable and
 * reachable over SSH; the x-systemd options make Docker require the mount and start after it
 * (systemd.mount(5), FSTAB: x-systemd.before=, x-systemd.required-by=), so no container starts
 * on an empty directory of the root disk, and Docker stays down if the volume cannot be mounted.
 */
export const VOLUME_MOUNT_OPTIONS =
  "discard,nofail,x-systemd.before=docker.service,x-systemd.required-by=docker.service";

/** The fstab line of a data volume. */
export function fstabEntry(a: Pick<MountArgs, "device" | "mountPath" | "format">): string {
  return `${a.device} ${a.mountPath} ${a.format} ${VOLUME_MOUNT_OPTIONS} 0 2`;
}

/**
 * Mounts a volume at a fixed path, now and at every boot. The fstab entry is rewritten when it
 * differs (an older one lacked the ordering before Docker); the rest of fstab is kept as it is.
 */
export function mountScript(args: MountArgs): string {
  return [
    "set -eu",
    ...privileged,
    // Paths come from validated config (no quotes or spaces) and the volume id.
    `dev='${args.device}'`,
    `mnt='${args.mountPath}'`,
    `entry='${fstabEntry(args)}'`,
    "tries=0",
    'until [ -b "$dev" ]; do',
    "  tries=$((tries + 1))",
    '  if [ "$tries" -gt 60 ]; then',
    `    echo "berth: host ${args.host}: volume ${args.volume} ($dev) did not appear" >&2`,
    "    exit 1",
    "  fi",
    "  sleep 2",
    "done",
    'as_root mkdir -p "$mnt"',
    'if ! grep -qxF "$entry" /etc/fstab; then',
    "  # shellcheck disable=SC2016 # $1 and $2 are expanded by the inner shell, run as root",
    '  as_root sh -c \'awk -v mnt="$1" "\\$2 != mnt" /etc/fstab > /etc/fstab.berth && printf "%s\\n" "$2" >> /etc/fstab.berth && chmod 644 /etc/fstab.berth && mv /etc/fstab.berth /etc/fstab\' sh "$mnt" "$entry"',
    "  if [ -d /run/systemd/system ]; then as_root systemctl daemon-reload; fi",
    "fi",
    'mountpoint -q "$mnt" || as_root mount "$mnt"',
    `echo "berth: volume ${args.volume} mounted at $mnt"`,
    "",
  ].join("\n");
}

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
