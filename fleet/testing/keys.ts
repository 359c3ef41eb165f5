// SSH keys for the fleet's tests and benchmark: real key lines that berth's own checks accept.
import * as crypto from "node:crypto";

/** A new machine's ed25519 host key line, as `ssh-keyscan -t ed25519 ADDRESS` prints it. */
export function hostKeyLine(address: string): string {
  const { publicKey } = crypto.generateKeyPairSync("ed25519");
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  const field = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `${address} ssh-ed25519 ${Buffer.concat([field(Buffer.from("ssh-ed25519")), field(raw)]).toString("base64")}`;
}
