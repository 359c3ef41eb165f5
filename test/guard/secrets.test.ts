// Secrets audit: every secret of the example stacks, given a distinct sentinel, lands only inside
// Pulumi secrets and never in a command line; and the audit itself catches leaks it is shown.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { audit, AuditResult, violations } from "../../guard/secrets";
import { auditDocs, staleDocs } from "../../guard/docs";
import { secretsAudit, sentinels } from "../../guard/matrix";
import { ROOT } from "../support/harness";

const wrap = (value: unknown) => ({ [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, value });

describe("secrets audit of the example stacks", () => {
  let results: Record<string, AuditResult>;
  before(async () => {
    results = await secretsAudit();
  });

  it("is what docs/secrets-audit.md says (npm run safety writes it)", async () => {
    assert.deepEqual(staleDocs(ROOT, await auditDocs(results)), []);
  });

  for (const stack of ["production", "staging"]) {
    it(`${stack}: each secret reaches what needs it, only as a Pulumi secret, never in a command line`, () => {
      const r = results[stack];
      assert.deepEqual(
        violations(r).map((f) => `${f.where} (${f.secretName}, ${f.form})`),
        [],
      );
      for (const name of Object.keys(sentinels(stack))) {
        // The fingerprint key only keys the fingerprints in container names (config/stack.ts):
        // it must reach no resource at all.
        const used = r.findings.some((f) => f.secretName === name);
        assert.equal(used, name !== "BERTH_FINGERPRINT_KEY", `${name} is ${used ? "" : "not "}used somewhere`);
      }
      assert.ok(r.commandStrings > 0 && r.outputs > 0, "commands and outputs were scanned");
    });
  }

  it("production: the database URL output carries the password only as a secret", () => {
    const url = results.production.findings.filter((f) => f.where.startsWith("output:databaseUrls"));
    assert.ok(url.length > 0 && url.every((f) => f.wrapped));
  });
});

describe("the audit", () => {
  const s = { PASS: "sentinel-Pa55/word" };
  it("reports a sentinel outside a secret, encoded or not", () => {
    const r = audit(
      [{ name: "c", type: "docker:index/container:Container", raw: { envs: [`X=${encodeURIComponent(s.PASS)}`] } }],
      { url: Buffer.from(s.PASS).toString("base64") },
      s,
    );
    assert.deepEqual(
      violations(r).map((f) => [f.where, f.form]),
      [
        ["c.envs[0]", "url-encoded"],
        ["output:url", "base64"],
      ],
    );
  });

  it("reports a sentinel in a resource name", () => {
    const r = audit([{ name: `app-${s.PASS}`, type: "docker:index/container:Container", raw: {} }], {}, s);
    assert.deepEqual(
      violations(r).map((f) => f.where),
      [`app-${s.PASS}:name`],
    );
  });

  it("reports a sentinel in a command line even inside a secret, and allows secret stdin", () => {
    const r = audit(
      [{ name: "cmd", type: "command:remote:Command", raw: { create: wrap(`echo ${s.PASS}`), stdin: wrap(s.PASS) } }],
      {},
      s,
    );
    assert.deepEqual(
      violations(r).map((f) => f.where),
      ["cmd.create"],
    );
    assert.equal(r.findings.length, 2);
  });
});
