import { ImportContext } from "../context";

const BOOT_KEYS = ["limit", "wait", "parallel_roles"];

export function mapBoot(ctx: ImportContext, value: unknown): Record<string, unknown> | undefined {
  const { hash, knownKeys, str, int, skip } = ctx;
  const b = hash(value, "boot");
  if (!b) return undefined;
  knownKeys(b, BOOT_KEYS, "boot");
  const out: Record<string, unknown> = {};
  if (typeof b.limit === "number") out.limit = b.limit;
  else if (b.limit !== undefined) out.limit = str(b.limit, "boot/limit");
  const wait = int(b.wait, "boot/wait");
  if (wait !== undefined) out.wait = wait;
  if (b.parallel_roles !== undefined) skip("boot/parallel_roles", "berth boots roles one after another");
  return out;
}
