// The URN of every resource of both example stacks, as committed in test/fixtures/urns/. A URN
// holds the resource's type, its parents' types and its name: when one changes, Pulumi sees a
// new resource and deletes the old one, in every existing stack. A deliberate rename or move
// carries an alias (`aliases` in the resource options) and edits the fixture by hand in the same
// commit, so the change shows in review; a new resource adds its line the same way. Resources
// named after the version they run (and app containers after their fingerprint) are new on every
// deploy by design: their lines hold `<version>` and `<fingerprint>` instead.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { FIXTURES as ALL_FIXTURES, runIndex, stackConfig } from "../support/harness";

const FIXTURES = path.join(ALL_FIXTURES, "urns");

describe("resource URNs of the example stacks", () => {
  for (const stack of ["production", "staging"]) {
    it(`${stack}: every resource keeps its URN, and none appears unlisted`, async () => {
      const file = stackConfig(stack);
      const version = file.config["berth:version"];
      assert.ok(version, "the example pins a version");
      const { resources } = await runIndex(stack, file);
      const generic = (urn: string) =>
        urn
          .split(`-${version}-`)
          .join("-<version>-")
          .replace(/-<version>-[0-9a-f]{8}$/, "-<version>-<fingerprint>");
      const rendered = new Set(resources.map((r) => generic(r.urn)));
      assert.equal(rendered.size, resources.length, "two resources share a URN");
      const fixture = path.join(FIXTURES, `${stack}.txt`);
      const listed = new Set(fs.readFileSync(fixture, "utf8").split("\n").filter(Boolean));
      const gone = [...listed].filter((u) => !rendered.has(u));
      const added = [...rendered].filter((u) => !listed.has(u));
      assert.deepEqual(
        gone,
        [],
        `resources whose URN changed or vanished (Pulumi would delete them):\n${gone.join("\n")}`,
      );
      assert.deepEqual(
        added,
        [],
        `resources not listed in ${path.relative(process.cwd(), fixture)}:\n${added.join("\n")}`,
      );
    });
  }
});
