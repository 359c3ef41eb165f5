// The part of ERB that Kamal configurations use to read the environment, evaluated without Ruby:
// `ENV["X"]`, `ENV.fetch("X")`, `ENV.fetch("X", "default")`, `ENV.fetch("X") { "default" }`, string
// and number literals, and `a || b` between them. Anything else is not evaluated (never eval'd):
// the caller writes a placeholder instead.

/** Why an expression has no value: an unset variable, or code outside the subset. */
export type ErbUnknown = { unset: string } | { unsupported: true };

type Token = { kind: "env" | "fetch" | "str" | "num" | "or" | "block" | "end"; text: string; fallback?: string };

const STRING = String.raw`"((?:[^"\\#]|\\.|#(?!\{))*)"|'((?:[^'\\]|\\.)*)'`;
const PATTERNS: [Token["kind"], RegExp][] = [
  ["env", new RegExp(String.raw`^ENV\[\s*(?:${STRING})\s*\]`)],
  ["fetch", new RegExp(String.raw`^ENV\.fetch\(\s*(?:${STRING})\s*(?:,\s*(?:${STRING})\s*)?\)`)],
  ["block", new RegExp(String.raw`^\{\s*(?:${STRING})\s*\}`)],
  ["str", new RegExp(`^(?:${STRING})`)],
  ["num", /^-?[0-9][0-9_]*(\.[0-9]+)?/],
  ["or", /^\|\|/],
];

const unescape = (s: string) => s.replace(/\\(.)/g, "$1");

function tokens(code: string): Token[] | undefined {
  const out: Token[] = [];
  let rest = code.trim();
  while (rest.length > 0) {
    const hit = PATTERNS.map(([kind, re]) => [kind, re.exec(rest)] as const).find(([, m]) => m);
    if (!hit) return undefined;
    const [kind, m] = hit as [Token["kind"], RegExpExecArray];
    const groups = m.slice(1).filter((g) => g !== undefined);
    if (kind === "env" || kind === "str" || kind === "block") out.push({ kind, text: unescape(groups[0] ?? "") });
    else if (kind === "fetch") {
      // Two groups per string pattern: the name is the first defined, a default the next.
      out.push({
        kind,
        text: unescape(groups[0]),
        fallback: groups[1] !== undefined ? unescape(groups[1]) : undefined,
      });
    } else out.push({ kind, text: m[0] });
    rest = rest.slice(m[0].length).trim();
  }
  return out;
}

/**
 * The value of an output tag's code (`<%= code %>`), as Ruby would print it, or why it has none.
 * Ruby's `||` takes the first value that is not nil; an empty string counts as a value.
 */
export function evaluateErb(code: string, env: Record<string, string | undefined>): string | ErbUnknown {
  const list = tokens(code);
  if (!list || list.length === 0) return { unsupported: true };
  // Terms separated by ||; a fetch may carry a block with its default.
  const terms: Token[][] = [[]];
  for (const t of list) {
    if (t.kind === "or") terms.push([]);
    else terms[terms.length - 1].push(t);
  }
  let firstUnset: string | undefined;
  for (const term of terms) {
    const [head, block, ...extra] = term;
    if (!head || extra.length > 0) return { unsupported: true };
    if (block && (head.kind !== "fetch" || block.kind !== "block" || head.fallback !== undefined))
      return { unsupported: true };
    switch (head.kind) {
      case "str":
      case "num":
        return head.text;
      case "env": {
        const v = env[head.text];
        if (v !== undefined) return v;
        firstUnset ??= head.text;
        break;
      }
      case "fetch": {
        const v = env[head.text] ?? head.fallback ?? block?.text;
        if (v !== undefined) return v;
        // ENV.fetch without a default raises when the variable is unset: nothing after it runs.
        return { unset: firstUnset ?? head.text };
      }
      default:
        return { unsupported: true };
    }
  }
  // Every term was an unset ENV[...]: Ruby prints nil as an empty string, which Kamal would use.
  return { unset: firstUnset! };
}
