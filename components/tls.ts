// Certificates kamal-proxy serves instead of Let's Encrypt ones (Kamal's custom certificates):
// written into kamal-proxy's own state volume, which outlives its container, and named in the
// route's `kamal-proxy deploy --tls-certificate-path/--tls-private-key-path` (kamal-proxy v0.9.2
// internal/cmd/deploy.go). kamal-proxy reads them when a service is deployed
// (internal/server/cert.go, StaticCertManager), so a new certificate re-runs the route step.
import * as path from "node:path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { PROXY_CONTAINER } from "../config/names";
import { shq } from "./commands/shell";
import { Host } from "./host";

/**
 * Installs the key and certificate read from stdin (PEM, in any order) at the paths kamal-proxy
 * reads, inside its container and as its own user, so it can read them and nobody else. Nothing
 * of them reaches the command line.
 */
export function proxyCertificateScript(paths: { certificatePath: string; privateKeyPath: string }): string {
  const inner = [
    "set -eu",
    'cert="$1"; key="$2"',
    "umask 077",
    'mkdir -p "$(dirname "$cert")" "$(dirname "$key")"',
    'cat > "$key.in"',
    'sed -n "/-----BEGIN CERTIFICATE-----/,/-----END CERTIFICATE-----/p" "$key.in" > "$cert.tmp"',
    'sed -n "/-----BEGIN [A-Z ]*PRIVATE KEY-----/,/-----END [A-Z ]*PRIVATE KEY-----/p" "$key.in" > "$key.tmp"',
    'rm -f "$key.in"',
    'if [ ! -s "$cert.tmp" ] || [ ! -s "$key.tmp" ]; then',
    '  rm -f "$cert.tmp" "$key.tmp"',
    '  echo "berth: no PEM certificate and private key on stdin" >&2',
    "  exit 1",
    "fi",
    'chmod 0644 "$cert.tmp"',
    'mv "$key.tmp" "$key"',
    'mv "$cert.tmp" "$cert"',
  ].join("\n");
  return [
    "set -eu",
    "# shellcheck disable=SC2016 # $1, $2 and the rest are expanded by the shell inside kamal-proxy's container",
    `docker exec -i ${PROXY_CONTAINER} sh -c ${shq(inner)} sh ${shq(paths.certificatePath)} ${shq(paths.privateKeyPath)}`,
    `echo ${shq(`berth: certificate installed for kamal-proxy at ${path.posix.dirname(paths.certificatePath)}`)}`,
    "",
  ].join("\n");
}

export interface ProxyCertificate {
  paths: { certificatePath: string; privateKeyPath: string };
  /** Key and certificate, PEM: a secret, sent on stdin. */
  bundle: pulumi.Output<string>;
  /** Changes with the certificate. */
  digest: pulumi.Output<string>;
}

/**
 * The step that installs a role's certificate on a host, again whenever the certificate, the
 * kamal-proxy container or the machine changes.
 */
export function installCertificate(
  name: string,
  host: Host,
  cert: ProxyCertificate,
  proxyId: pulumi.Input<string>,
  opts: pulumi.CustomResourceOptions,
): command.remote.Command {
  return new command.remote.Command(
    name,
    {
      connection: host.connection,
      create: proxyCertificateScript(cert.paths),
      stdin: cert.bundle,
      triggers: [cert.digest, proxyId, host.generation],
      addPreviousOutputInEnv: false,
    },
    opts,
  );
}
