// The real validators, cloud-init schema and shellcheck (Debian packages, installed by scripts/test-setup),
// as assertions the test files share.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after } from "node:test";
import { byType, Recorded } from "./harness";

export function tool(name: string): string {
  const found = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).stdout.trim();
  assert.ok(
    found,
    `${name} is not installed; run: apt-get install -y ${name === "cloud-init" ? "cloud-init" : "shellcheck"}`,
  );
  return found;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "berth-validators-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
export function write(name: string, text: string): string {
  const file = path.join(tmp, name.replace(/[^A-Za-z0-9._-]/g, "_"));
  fs.writeFileSync(file, text);
  return file;
}

export function validateCloudInit(name: string, userData: string): void {
  const file = write(`${name}.yaml`, userData);
  const res = spawnSync(tool("cloud-init"), ["schema", "--config-file", file], { encoding: "utf8" });
  assert.equal(res.status, 0, `cloud-init schema rejected ${name}:\n${res.stdout}${res.stderr}\n---\n${userData}`);
  assert.match(res.stdout, /Valid cloud-config/);
}

export function shellcheck(name: string, script: string): void {
  const file = write(`${name}.sh`, `#!/bin/sh\n${script}`);
  const res = spawnSync(tool("shellcheck"), ["--shell=sh", "--severity=style", file], { encoding: "utf8" });
  assert.equal(res.status, 0, `shellcheck found problems in ${name}:\n${res.stdout}${res.stderr}\n---\n${script}`);
}

/** Every command string a stack would run, on its hosts (remote) or the deploying machine (hooks). */
export function scriptsOf(resources: Recorded[]): [string, string][] {
  const out: [string, string][] = [];
  for (const r of [...byType(resources, "command:remote:Command"), ...byType(resources, "command:local:Command")]) {
    for (const field of ["create", "update", "delete"]) {
      if (typeof r.inputs[field] === "string") out.push([`${r.name}.${field}`, r.inputs[field]]);
    }
  }
  return out;
}
