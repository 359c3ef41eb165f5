// Values `berth import` could not know are written as marked placeholders. A stack that still
// holds one must not deploy: `pulumi up` would push the tag `fill-in-version` or dial a host
// named `fill-in-....invalid`.

/** Every placeholder value starts with this, so a user can search the stack file for it. */
export const PLACEHOLDER_PREFIX = "fill-in-";

/** What goes in a place, by the last key of its path. */
const WHAT: Record<string, string> = {
  version: "the image tag to deploy (`pulumi config set berth:version TAG`)",
  address: "the host's public IP address or DNS name",
  hostKeys:
    "the machine's SSH host key (`ssh-keyscan -t ed25519 <its address>`, checked against the fingerprint its console shows)",
  publicKey: "your SSH public key (the contents of ~/.ssh/id_ed25519.pub)",
  zone: "your DNS zone in Hetzner DNS, such as example.com",
  image: "an image with a pinned tag",
  username: "the registry user name",
};

export interface PlaceholderFound {
  path: (string | number)[];
  message: string;
}

/** Every value in the raw config that still holds an import placeholder. */
export function placeholdersIn(raw: unknown, at: (string | number)[] = []): PlaceholderFound[] {
  if (typeof raw === "string") {
    const m = new RegExp(`${PLACEHOLDER_PREFIX}[a-z0-9-]*`).exec(raw);
    if (!m) return [];
    const key = [...at].reverse().find((s): s is string => typeof s === "string") ?? "";
    const erb = m[0].startsWith(`${PLACEHOLDER_PREFIX}erb-`)
      ? " (an ERB tag of the Kamal config that import could not evaluate)"
      : "";
    const what = WHAT[key] ?? "your value";
    return [
      {
        path: at,
        message: `still holds the placeholder ${m[0]}${erb} that \`berth import\` wrote: replace it with ${what}; the comment at the top of the stack file says what goes there`,
      },
    ];
  }
  if (Array.isArray(raw)) return raw.flatMap((v, i) => placeholdersIn(v, [...at, i]));
  if (raw && typeof raw === "object")
    return Object.entries(raw).flatMap(([k, v]) => [
      ...(k.startsWith(PLACEHOLDER_PREFIX)
        ? [{ path: [...at, k], message: "is an import placeholder: rename it" }]
        : []),
      ...placeholdersIn(v, [...at, k]),
    ]);
  return [];
}

/** True when `path` lies at or below one of the placeholder paths. */
export function underPlaceholder(path: PropertyKey[], found: PlaceholderFound[]): boolean {
  return found.some((f) => f.path.length <= path.length && f.path.every((s, i) => s === path[i]));
}
