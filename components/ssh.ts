// How berth's own ssh on the deploying machine reaches a host: the host key it knows in advance
// (never trusted on first use) and the private key it logs in with. The command provider gets
// both as connection inputs; the docker provider runs the system `ssh`, so it gets them as ssh
// options (kreuzwerker/terraform-provider-docker passes ssh_opts to docker's connection helper,
// which runs `ssh` without a shell).
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** A known_hosts line: `address type key`, or `[address]:port type key` off port 22. */
export function knownHostsLine(address: string, port: number, hostKey: string): string {
  return `${port === 22 ? address : `[${address}]:${port}`} ${hostKey}`;
}

/**
 * ssh options of a host's docker provider. The host key comes from KnownHostsCommand (OpenSSH
 * 8.5 or later) instead of a file, so the options alone let ssh verify the host: the provider's
 * configuration is kept in the stack's state, and deleting containers of a host that left the
 * program, on a machine that never deployed it, still works. The user's own known_hosts files are
 * left out, so a stale entry for a recycled address can neither help nor hurt.
 */
export function dockerSshOptions(a: { knownHostsLine: string; identityFile?: string }): string[] {
  const opts = [
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    `KnownHostsCommand=/bin/sh -c 'echo "${a.knownHostsLine}"'`,
    "-o",
    "ServerAliveInterval=30",
  ];
  if (a.identityFile) opts.push("-o", `IdentityFile=${a.identityFile}`, "-o", "IdentitiesOnly=yes");
  return opts;
}

/**
 * Where identity files go: `~/.berth/ssh` of the user (from the password database, as ssh
 * expands `~`), or BERTH_SSH_DIR. Never inside the project.
 */
export function sshDirectory(env: NodeJS.ProcessEnv = process.env): { dir: string; asSshSees: string } {
  if (env.BERTH_SSH_DIR) return { dir: env.BERTH_SSH_DIR, asSshSees: env.BERTH_SSH_DIR };
  return { dir: path.join(os.userInfo().homedir, ".berth", "ssh"), asSshSees: "~/.berth/ssh" };
}

/**
 * Writes a private key (from berth:ssh.privateKeySecret) to a file only its owner can read, for
 * the docker provider's ssh, and returns the path as ssh should see it. The file is named after
 * the key's hash, so every machine and run writes the same path for the same key and the
 * provider's configuration stays the same; it is written again on every run.
 */
export function writeIdentityFile(privateKey: string, env: NodeJS.ProcessEnv = process.env): string {
  const { dir, asSshSees } = sshDirectory(env);
  const text = `${privateKey.replace(/\r\n/g, "\n").trimEnd()}\n`;
  const name = `id-${crypto.createHash("sha256").update(text).digest("hex").slice(0, 16)}`;
  const file = path.join(dir, name);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  const current = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
  if (current !== text || (fs.statSync(file).mode & 0o077) !== 0) {
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, text, { mode: 0o600 });
    fs.chmodSync(tmp, 0o600);
    fs.renameSync(tmp, file);
  }
  return `${asSshSees}/${name}`;
}
