// The URN of every resource of both example stacks (and of the production example with the zone
// berth creates) and of the stacks under examples/, as committed in test/fixtures/urns/. A URN holds the resource's type, its
// parents' types and its name: when one changes, Pulumi sees a new resource and deletes the old
// one, in every existing stack. A listed URN stays listed, because stacks that have not updated
// since still hold it: a rename or move keeps it reachable through an alias (`aliases` in the
// resource options) and adds the new URN as a line of its own, in the same commit, so the change
// shows in review; a new resource adds its line the same way. Resources named after the version
// they run (and app containers after their fingerprint) are new on every deploy by design: their
// lines hold `<version>` and `<fingerprint>` instead.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { PROJECT } from "../../plan/render";
import { urnOf } from "../../plan/urn";
import { createZone, EXAMPLES, FIXTURES as ALL_FIXTURES, Recorded, runIndex, stackConfig } from "../support/harness";

const FIXTURES = path.join(ALL_FIXTURES, "urns");

const VARIANTS: {
  fixture: string;
  stack: string;
  change?: (c: Record<string, unknown>) => void;
  /** The server stack an app stack attaches to (berth:attach), rendered first for its outputs. */
  attach?: string;
}[] = [
  { fixture: "production", stack: "production" },
  { fixture: "staging", stack: "staging" },
  {
    fixture: "production-zone",
    stack: "production",
    change: createZone,
  },
  ...Object.keys(EXAMPLES).map((stack) => ({
    fixture: stack,
    stack,
    attach: stack === "blog" || stack === "shop" ? "apps" : undefined,
  })),
];

describe("resource URNs of the example stacks", () => {
  for (const { fixture: name, stack, change, attach } of VARIANTS) {
    it(`${name}: every listed URN is still a resource or an alias of one, and no resource is unlisted`, async () => {
      const file = stackConfig(stack, change);
      // A server stack runs no app, so it has no version.
      const version = file.config["berth:version"];
      const references = attach ? { [attach]: (await runIndex(attach, stackConfig(attach))).outputs } : undefined;
      const { resources } = await runIndex(stack, file, undefined, references);
      const generic = (urn: string) =>
        version
          ? urn
              .split(`-${version}-`)
              .join("-<version>-")
              .replace(/-<version>-[0-9a-f]{8}$/, "-<version>-<fingerprint>")
          : urn;
      // The mock runtime forms a URN from the parent's own type only; the engine from the parent's
      // whole chain. They agree while components nest no deeper than one level: checked, so the
      // lists keep holding the engine's URNs.
      const byUrn = new Map(resources.map((r) => [r.urn, r]));
      const engineUrn = (r: Recorded): string =>
        urnOf(stack, PROJECT, r.parent && byUrn.has(r.parent) ? engineUrn(byUrn.get(r.parent)!) : "", r.type, r.name);
      for (const r of resources) assert.equal(r.urn, engineUrn(r), "the mock's URN differs from the engine's");
      const rendered = new Set(resources.map((r) => generic(r.urn)));
      assert.equal(rendered.size, resources.length, "two resources share a URN");
      const aliased = new Set(resources.flatMap((r) => r.aliases.map(generic)));
      // The engine refuses an alias that another resource of the program holds as its URN.
      assert.deepEqual(
        [...aliased].filter((u) => rendered.has(u)),
        [],
        "an alias names another resource's URN",
      );
      const fixture = path.join(FIXTURES, `${name}.txt`);
      const listed = new Set(fs.readFileSync(fixture, "utf8").split("\n").filter(Boolean));
      const gone = [...listed].filter((u) => !rendered.has(u) && !aliased.has(u));
      const added = [...rendered].filter((u) => !listed.has(u));
      assert.deepEqual(
        gone,
        [],
        `resources whose URN changed or vanished without an alias (Pulumi would delete them):\n${gone.join("\n")}`,
      );
      assert.deepEqual(
        added,
        [],
        `resources not listed in ${path.relative(process.cwd(), fixture)}:\n${added.join("\n")}`,
      );
    });
  }
});
