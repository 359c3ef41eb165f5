// The README and the pages under docs/ link to each other and into the repository: every
// relative link must name a file that exists, and every #anchor a heading of that file, as
// GitHub renders them; every page under docs/ is reachable from the README; and every table row has
// as many cells as its header (a `|` inside a code span still splits a cell on GitHub).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { ROOT } from "../support/harness";

const pages = [
  "README.md",
  ...fs
    .readdirSync(path.join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as dashes. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_\- ]/gu, "")
    .replace(/ /g, "-");

function outsideCode(text: string): string {
  return text.replace(/```[\s\S]*?```/g, "").replace(/`[^`\n]*`/g, "");
}

function anchors(file: string): Set<string> {
  const text = outsideCode(fs.readFileSync(path.join(ROOT, file), "utf8"));
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1])));
}

function links(file: string): string[] {
  const text = outsideCode(fs.readFileSync(path.join(ROOT, file), "utf8"));
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((t) => !/^[a-z]+:/.test(t));
}

describe("the documentation's links", () => {
  for (const page of pages) {
    it(`${page}: every relative link and anchor resolves`, () => {
      for (const link of links(page)) {
        const [target, anchor] = link.split("#");
        const file = target ? path.normalize(path.join(path.dirname(page), target)) : page;
        assert.ok(fs.existsSync(path.join(ROOT, file)), `${page}: ${link} names no file`);
        if (anchor && file.endsWith(".md"))
          assert.ok(anchors(file).has(anchor), `${page}: ${link} names no heading of ${file}`);
      }
    });
  }

  for (const page of pages) {
    it(`${page}: every table row has its header's cells`, () => {
      const lines = fs
        .readFileSync(path.join(ROOT, page), "utf8")
        .replace(/```[\s\S]*?```/g, "")
        .split("\n");
      // Cells as GitHub splits them: on every pipe not escaped with a backslash, code spans included.
      const cells = (row: string) =>
        row
          .trim()
          .replace(/^\|/, "")
          .replace(/\|$/, "")
          .split(/(?<!\\)\|/).length;
      let header: number | undefined;
      lines.forEach((line, i) => {
        if (!line.trimStart().startsWith("|")) return void (header = undefined);
        if (header === undefined) header = cells(line);
        else
          assert.equal(
            cells(line),
            header,
            `${page}:${i + 1}: a row of ${cells(line)} cells under a header of ${header}`,
          );
      });
    });
  }

  it("reaches every page under docs/ from the README, following links", () => {
    const reached = new Set(["README.md"]);
    const queue = ["README.md"];
    while (queue.length > 0) {
      const page = queue.shift()!;
      for (const link of links(page)) {
        const target = link.split("#")[0];
        if (!target.endsWith(".md")) continue;
        const file = path.normalize(path.join(path.dirname(page), target));
        if (reached.has(file) || !fs.existsSync(path.join(ROOT, file))) continue;
        reached.add(file);
        queue.push(file);
      }
    }
    for (const page of pages) assert.ok(reached.has(page), `${page} is not reached from the README`);
  });
});
