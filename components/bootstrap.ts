// What berth runs on a host before any container: the cloud-init user data of a new server (the
// readiness gate and the volume mounts that follow it are in commands/host.ts). Pure functions
// from config to text, so tests can hand every result to the real validators (cloud-init schema).
import { stringify } from "yaml";

/** The docker network every berth container joins. Kamal's name, so hosts migrated from Kamal keep theirs. */
export const DOCKER_NETWORK = "kamal";

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
