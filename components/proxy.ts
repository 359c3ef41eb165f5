// kamal-proxy on a host that serves proxied roles: ports 80 and 443, a volume for its state and
// Let's Encrypt certificates, on the shared docker network. One per host, whatever the number
// of apps: apps of other stacks attach to it (berth:proxy.manage false).
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { DOCKER_NETWORK } from "./bootstrap";
import { PROXY_CONTAINER } from "../config/names";
import { Host } from "./host";

export interface ProxyArgs {
  host: Host;
  /** Pinned kamal-proxy image. */
  image: string;
}

/** Named docker volume holding kamal-proxy's routes and certificates across restarts. */
export const PROXY_VOLUME = "kamal-proxy-config";

export class Proxy extends pulumi.ComponentResource {
  readonly container: docker.Container;

  constructor(name: string, args: ProxyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:proxy:Proxy", name, {}, opts);
    const provider = args.host.docker;
    const image = new docker.RemoteImage(
      `${name}-image`,
      { name: args.image, keepLocally: true, triggers: { host: args.host.generation } },
      { parent: this, provider, dependsOn: [args.host.ready] },
    );
    this.container = new docker.Container(
      `${name}-container`,
      {
        name: PROXY_CONTAINER,
        image: image.imageId,
        restart: "unless-stopped",
        ports: [
          { internal: 80, external: 80 },
          { internal: 443, external: 443 },
        ],
        volumes: [{ volumeName: PROXY_VOLUME, containerPath: "/home/kamal-proxy/.config/kamal-proxy" }],
        networksAdvanced: [{ name: DOCKER_NETWORK }],
        labels: [
          { label: "org.opencontainers.image.title", value: "kamal-proxy" },
          { label: "berth.host-generation", value: args.host.generation },
        ],
        logDriver: "json-file",
        logOpts: { "max-size": "10m" },
      },
      // A fixed container name and fixed host ports: the old container must go before the new one starts.
      { parent: this, provider, deleteBeforeReplace: true, dependsOn: [args.host.ready] },
    );
    this.registerOutputs({ container: this.container.name });
  }
}
