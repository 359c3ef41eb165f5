// Builds the app image from source and pushes it (Kamal's builder), so the deploy can use the
// pushed digest. Only when berth:builder is set; otherwise CI builds and berth:version names it.
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { DeployConfig } from "../config/schema";
import { hookScript } from "./commands/hook";

export interface BuildArgs {
  config: DeployConfig;
  builder: NonNullable<DeployConfig["builder"]>;
  registryPassword?: pulumi.Output<string>;
}

export class Build extends pulumi.ComponentResource {
  readonly image: docker.Image;
  /** `repo@sha256:...` of the pushed image: what every host pulls. */
  readonly ref: pulumi.Output<string>;

  constructor(name: string, args: BuildArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:build:Build", name, {}, opts);
    const cfg = args.config;
    const b = args.builder;
    const preBuild = new command.local.Command(
      `${name}-pre-build`,
      {
        create: hookScript(cfg.hooksPath, "pre-build", `.berth/${cfg.stack}.build-started`),
        environment: {
          KAMAL_SERVICE: cfg.service,
          KAMAL_VERSION: cfg.version,
          KAMAL_DESTINATION: cfg.stack,
          KAMAL_COMMAND: "build",
          BERTH_SERVICE: cfg.service,
          BERTH_VERSION: cfg.version,
          BERTH_STACK: cfg.stack,
        },
        triggers: [cfg.version],
      },
      { parent: this },
    );
    this.image = new docker.Image(
      `${name}-image`,
      {
        imageName: `${cfg.image}:${cfg.version}`,
        build: {
          context: b.context,
          dockerfile: `${b.context}/${b.dockerfile}`,
          args: b.args ? Object.fromEntries(Object.entries(b.args).map(([k, v]) => [k, String(v)])) : undefined,
          target: b.target,
          platform: `linux/${b.arch}`,
        },
        registry: cfg.registry
          ? { server: cfg.registry.server, username: cfg.registry.username, password: args.registryPassword }
          : undefined,
        buildOnPreview: false,
      },
      { parent: this, dependsOn: [preBuild] },
    );
    this.ref = this.image.repoDigest;
    this.registerOutputs({ ref: this.ref });
  }
}
