import { ImportContext } from "../context";
import { isHash, PLACEHOLDER_PREFIX } from "../kamal";

const SSH_KEYS = [
  "user",
  "port",
  "proxy",
  "proxy_command",
  "log_level",
  "keys_only",
  "keys",
  "key_data",
  "config",
  "forward_agent",
];

export function mapSsh(ctx: ImportContext, value: unknown): Record<string, unknown> {
  const { hash, knownKeys, str, int, strings, needSecret, skip, skipKeys, opts, placeholders } = ctx;
  const s = hash(value, "ssh") ?? {};
  knownKeys(s, SSH_KEYS, "ssh");
  const out: Record<string, unknown> = {};
  const user = str(s.user, "ssh/user");
  if (user !== undefined) out.user = user;
  const port = int(s.port, "ssh/port");
  if (port !== undefined) out.port = port;
  out.publicKey =
    opts.publicKey ??
    (() => {
      const value = `${PLACEHOLDER_PREFIX}ssh-public-key`;
      placeholders.push({
        value,
        what: "your SSH public key (contents of ~/.ssh/id_ed25519.pub), or import with --ssh-public-key FILE",
      });
      return `ssh-ed25519 AAAAFillInYourPublicKey ${value}`;
    })();
  const keyData = strings(s.key_data, "ssh/key_data");
  if (keyData && keyData.length > 0) {
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(keyData[0])) {
      out.privateKeySecret = keyData[0];
      needSecret(keyData[0], "ssh/key_data");
      if (keyData.length > 1) skip("ssh/key_data", "berth uses one private key; the first is kept");
    } else {
      skip(
        "ssh/key_data",
        "a private key written in the config is not copied; set it as a secret and name it in berth:ssh.privateKeySecret",
      );
    }
  }
  const reasons: Record<string, string> = {
    proxy: "berth connects to hosts directly; no SSH jump host yet",
    proxy_command: "berth connects to hosts directly; no SSH proxy command yet",
    log_level: "berth has no SSH log level setting",
    keys_only: "berth uses the ssh-agent or berth:ssh.privateKeySecret",
    keys: "berth uses the ssh-agent (ssh-add the key) or berth:ssh.privateKeySecret",
    config: "berth does not read ssh_config files",
    forward_agent: "berth does not forward the SSH agent",
  };
  skipKeys(s, reasons, "ssh");
  return out;
}

/** The SSH user's home directory, where Kamal runs its commands. */
export function homeOf(ssh: unknown): string {
  const user = isHash(ssh) && typeof ssh.user === "string" ? ssh.user : "root";
  return user === "root" ? "/root" : `/home/${user}`;
}
