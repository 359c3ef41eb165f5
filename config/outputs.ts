// The stack outputs as the command line and CI read them (`pulumi stack output --json`): the
// program's stackOutputs (components/deployment.ts) must produce this shape, which the compiler
// checks there, so the two sides cannot drift apart.

export interface HostOutput {
  name: string;
  roles: string[];
  ipv4?: string;
  ssh: string;
}

export interface StackOutputs {
  service: string;
  stack: string;
  /** Absent for a stack without roles (hosts and accessories only, or a server stack). */
  version?: string;
  hosts: Record<string, HostOutput>;
  roles: Record<string, { hosts: string[]; container: string; proxied: boolean }>;
  accessories?: Record<string, { hosts: string[]; container: string; image: string }>;
  /** The hosts' SSH host keys in known_hosts format (absent for stacks deployed by an older berth). */
  knownHosts?: string;
}
