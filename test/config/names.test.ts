// The stack settings the command line reads and writes (config/names.ts) are settings the
// program's schema knows, so `berth maintenance`, `berth rollout` and `berth up` never write a
// key the program ignores.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as names from "../../config/names";
import { ROOT } from "../support/harness";

interface SchemaNode {
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  anyOf?: SchemaNode[];
}

const schema = JSON.parse(fs.readFileSync(path.join(ROOT, "schema", "berth.schema.json"), "utf8")) as {
  properties: { config: SchemaNode };
};

/** The schema of a `berth:a.b` key, following properties (through anyOf); undefined when unknown. */
function settingSchema(key: string): SchemaNode | undefined {
  const [top, ...rest] = key.split(".");
  let node: SchemaNode | undefined = schema.properties.config.properties?.[top];
  for (const part of rest) {
    const options: SchemaNode[] = node ? [node, ...(node.anyOf ?? [])] : [];
    node = options.map((o) => o.properties?.[part]).find(Boolean);
  }
  return node;
}

describe("names the program and the command line share", () => {
  const keys = Object.entries(names).filter(([name]) => name.endsWith("_KEY")) as [string, string][];

  it("names only stack settings the configuration schema knows", () => {
    assert.ok(keys.length >= 6, `config/names.ts exports ${keys.length} keys`);
    for (const [name, key] of keys) assert.ok(settingSchema(key), `${name} (${key}) is no setting of the schema`);
  });

  it("writes booleans and numbers where the schema takes them", () => {
    // `pulumi config set --path` stores "true", "false" and digits as a boolean or a number
    // (pulumi/pulumi sdk/go/common/resource/config/object.go coerce), which is what the CLI writes.
    const types = (key: string) => [settingSchema(key)?.type].flat();
    assert.deepEqual(types(names.MAINTENANCE_ENABLED_KEY), ["boolean"]);
    assert.deepEqual(types(names.VERIFY_ROLLBACK_KEY), ["boolean"]);
    assert.ok(["integer", "number"].includes(String(types(names.ROLLOUT_PERCENT_KEY)[0])));
    assert.equal(settingSchema("berth:maintenance.nonsense"), undefined);
  });
});
