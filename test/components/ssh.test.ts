// Unit tier for SSH: host keys berth generates or is given, and how every SSH step and the docker
// provider check them; the private key handed to the docker provider through a key file.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { byType, named } from "../support/harness";
import { minimalConfig, RawConfig, renderConfig, TEST_HOST_KEY, TEST_PUBLIC_KEY } from "../support/configs";

/** The staging stack of `raw`'s hosts and roles (each case gives both), at v1. */
const render = (raw: RawConfig) => renderConfig({ ...minimalConfig("v1"), ...raw }, "staging");

describe("host keys known in advance", () => {
  const cloud = {
    hosts: {
      "web-1": { serverType: "cx23", location: "fsn1" },
      legacy: { address: "203.0.113.50", hostKeys: [`203.0.113.50 ${TEST_HOST_KEY}`] },
    },
    servers: { web: { hosts: ["web-1", "legacy"] } },
    dns: { zone: "example.com", hosts: ["shop.example.com"] },
  };

  it("generates each server's host key, installs it with cloud-init and verifies it on every connection", async () => {
    const { resources, outputs } = await render(cloud);
    const key = named(resources, "web-1-host-key");
    assert.equal(key.type, "tls:index/privateKey:PrivateKey");
    assert.equal(key.inputs.algorithm, "ED25519");
    const generated = outputs.hosts["web-1"].hostKey;
    assert.match(generated, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]+=*$/);
    const server = named(resources, "web-1-server");
    assert.equal(
      server.raw.userData[pulumi.runtime.specialSigKey],
      pulumi.runtime.specialSecretSig,
      "user data holds the private key: secret",
    );
    assert.match(server.inputs.userData, /ssh_deletekeys: true/);
    assert.ok(server.inputs.userData.includes(`ed25519_public: ${generated}`));
    assert.match(server.inputs.userData, /ed25519_private: \|\n\s+-----BEGIN OPENSSH PRIVATE KEY-----/);
    for (const r of byType(resources, "command:remote:Command")) {
      const expected = r.name.startsWith("legacy-") || r.name.includes("-legacy-") ? TEST_HOST_KEY : generated;
      assert.equal(r.inputs.connection.hostKey, expected, `${r.name} verifies the host key`);
    }
  });

  it("gives the docker provider's ssh that key and nothing else, never trust on first use", async () => {
    const { resources, outputs } = await render({ ...cloud, ssh: { publicKey: TEST_PUBLIC_KEY, port: 2222 } });
    const ip = outputs.hosts["web-1"].ipv4;
    for (const [host, line] of [
      ["web-1", `[${ip}]:2222 ${outputs.hosts["web-1"].hostKey}`],
      ["legacy", `[203.0.113.50]:2222 ${TEST_HOST_KEY}`],
    ]) {
      const opts: string[] = JSON.parse(named(resources, `${host}-docker`).inputs.sshOpts);
      assert.ok(!opts.some((o) => o.includes("accept-new")), "no trust on first use");
      assert.ok(opts.includes("StrictHostKeyChecking=yes"));
      assert.ok(opts.includes("UserKnownHostsFile=/dev/null") && opts.includes("GlobalKnownHostsFile=/dev/null"));
      assert.ok(opts.includes(`KnownHostsCommand=/bin/sh -c 'echo "${line}"'`), opts.join(" "));
    }
    assert.equal(
      outputs.knownHosts,
      `[${ip}]:2222 ${outputs.hosts["web-1"].hostKey}\n[203.0.113.50]:2222 ${TEST_HOST_KEY}\n`,
    );
  });

  it("exports knownHosts without brackets on port 22", async () => {
    const { outputs } = await render(cloud);
    assert.equal(
      outputs.knownHosts,
      `${outputs.hosts["web-1"].ipv4} ${outputs.hosts["web-1"].hostKey}\n203.0.113.50 ${TEST_HOST_KEY}\n`,
    );
  });

  it("verifies a server created before berth made host keys with its pinned key; a rebuild uses the generated one", async () => {
    const pinned = await render({
      ...cloud,
      hosts: { ...cloud.hosts, "web-1": { ...cloud.hosts["web-1"], hostKeys: [TEST_HOST_KEY] } },
    });
    assert.equal(named(pinned.resources, "web-1-ready").inputs.connection.hostKey, TEST_HOST_KEY);
    const rebuilt = await render({
      ...cloud,
      hosts: { ...cloud.hosts, "web-1": { ...cloud.hosts["web-1"], replace: "rebuild" } },
    });
    assert.equal(
      named(rebuilt.resources, "web-1-ready").inputs.connection.hostKey,
      rebuilt.outputs.hosts["web-1"].hostKey,
    );
  });
});

describe("the docker provider's SSH key", () => {
  it("reaches the docker provider as a file only its owner reads, outside the project, never as an input", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "berth-ssh-dir-"));
    const privateKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nsentinel-private-key\n-----END OPENSSH PRIVATE KEY-----";
    process.env.BERTH_SSH_DIR = dir;
    try {
      const { resources } = await render({
        hosts: { "web-1": { serverType: "cx23", location: "fsn1" } },
        servers: { web: { hosts: ["web-1"] } },
        ssh: { publicKey: TEST_PUBLIC_KEY, privateKeySecret: "SSH_KEY" },
        secrets: { SSH_KEY: privateKey },
      });
      const provider = named(resources, "web-1-docker");
      const opts: string[] = JSON.parse(provider.inputs.sshOpts);
      const file = opts.find((o) => o.startsWith("IdentityFile="))!.slice("IdentityFile=".length);
      assert.ok(file.startsWith(`${dir}/id-`), file);
      assert.ok(opts.includes("IdentitiesOnly=yes"));
      assert.equal(fs.readFileSync(file, "utf8"), `${privateKey}\n`);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
      assert.ok(!JSON.stringify(provider.raw).includes("sentinel-private-key"), "the key is in no provider input");
    } finally {
      delete process.env.BERTH_SSH_DIR;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("without a key, leaves ssh to the agent", async () => {
    const { resources } = await render({
      hosts: { "web-1": { serverType: "cx23", location: "fsn1" } },
      servers: { web: { hosts: ["web-1"] } },
    });
    const opts: string[] = JSON.parse(named(resources, "web-1-docker").inputs.sshOpts);
    assert.ok(!opts.some((o) => o.startsWith("IdentityFile=")));
  });
});
