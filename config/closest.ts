// "Did you mean": the nearest known name to a mistyped one.
import { closest as levenshteinClosest, distance } from "fastest-levenshtein";

/** The candidate nearest to `name`, if it is near enough to be a plausible typo. */
export function closest(name: string, candidates: string[]): string | undefined {
  if (candidates.length === 0) return undefined;
  const best = levenshteinClosest(name, candidates);
  return distance(name, best) <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}
