// What berth runs on a host before any container: the cloud-init user data of a new server,
// the readiness gate and the volume mounts. Pure functions from config to text, so tests can
// hand every result to the real validators (cloud-init schema, shellcheck).
import { stringify } from "yaml";

/** The docker network every berth container joins. Kamal's name, so hosts migrated from Kamal keep theirs. */
export const DOCKER_NETWORK = "kamal";

/** How long the readiness gate waits for cloud-init and Docker before failing the update. */
export const READY_TIMEOUT_SECONDS = 600;

export interface CloudInitArgs {
  sshUser: string;
  sshPort: number;
  publicKey: string;
  /** The server's SSH host key (OpenSSH private key, `ssh-ed25519 AAAA...` public key). */
  hostKey?: { privateKey: string; publicKey: string };
}

/** cloud-config for a new Hetzner server: Docker Engine, hardened SSH, unattended upgrades. */
export function cloudInit(args: CloudInitArgs): string {
  const root = args.sshUser === "root";
  const sshd = [
    "# Managed by berth",
    "PasswordAuthentication no",
    "KbdInteractiveAuthentication no",
    "ChallengeResponseAuthentication no",
    `PermitRootLogin ${root ? "prohibit-password" : "no"}`,
    `Port ${args.sshPort}`,
    "",
  ].join("\n");
  const config: Record<string, unknown> = {
    package_update: true,
    package_upgrade: true,
    // Docker Engine from the distribution: its security fixes then arrive through the same
    // unattended upgrades as the rest of the system.
    packages: ["docker.io", "unattended-upgrades", "apt-listchanges"],
    ssh_pwauth: false,
    disable_root: !root,
    // The host key berth made and verifies: cloud-init deletes the image's keys and, given
    // ssh_keys, generates no others (cloudinit/config/cc_ssh.py), so sshd offers this one only.
    ...(args.hostKey
      ? {
          ssh_deletekeys: true,
          ssh_keys: { ed25519_private: args.hostKey.privateKey, ed25519_public: args.hostKey.publicKey },
        }
      : {}),
    groups: ["docker"],
    write_files: [
      { path: "/etc/ssh/sshd_config.d/10-berth.conf", permissions: "0644", content: sshd },
      {
        path: "/etc/apt/apt.conf.d/20auto-upgrades",
        permissions: "0644",
        content: 'APT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "1";\n',
      },
    ],
    runcmd: [
      ["systemctl", "enable", "--now", "docker"],
      ["systemctl", "enable", "--now", "unattended-upgrades"],
      [
        "sh",
        "-c",
        `docker network inspect ${DOCKER_NETWORK} >/dev/null 2>&1 || docker network create ${DOCKER_NETWORK}`,
      ],
      // Ubuntu 24.04 starts sshd from ssh.socket, whose port is generated from sshd_config.
      [
        "sh",
        "-c",
        "systemctl daemon-reload; systemctl restart ssh.socket 2>/dev/null; systemctl restart ssh || systemctl restart sshd",
      ],
    ],
  };
  if (!root) {
    config.users = [
      {
        name: args.sshUser,
        groups: ["docker"],
        shell: "/bin/bash",
        sudo: "ALL=(ALL) NOPASSWD:ALL",
        lock_passwd: true,
        ssh_authorized_keys: [args.publicKey],
      },
    ];
  }
  return `#cloud-config\n${stringify(config, { lineWidth: 0 })}`;
}

/** Lines that let a script run privileged steps as root or through sudo, whichever the SSH user needs. */
export const privileged = ['if [ "$(id -u)" -eq 0 ]; then as_root() { "$@"; }; else as_root() { sudo -n "$@"; }; fi'];

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
