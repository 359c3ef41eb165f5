// What every command line berth runs shares: POSIX sh quoting and running steps as root. The
// files beside this one hold the command lines, by what they drive (kamal-proxy, the app's
// containers, accessories, the host, the deploying machine's hooks): pure functions from settings
// to text, like Kamal's command objects (lib/kamal/commands/), unit-tested, and every result goes
// through shellcheck in the tests. No secret ever reaches these strings.

/** Quotes a value for POSIX sh. */
export function shq(value: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Lines that let a script run privileged steps as root or through sudo, whichever the SSH user needs. */
export const privileged = ['if [ "$(id -u)" -eq 0 ]; then as_root() { "$@"; }; else as_root() { sudo -n "$@"; }; fi'];
