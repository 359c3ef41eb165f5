// Which inputs of each resource type berth registers force the provider to replace the resource
// instead of updating it in place. A diff of inputs alone cannot tell the two apart; this table
// is the one place that knows, and every entry names where it comes from.
//
// Sources (read at the provider versions berth pins; re-check when bumping them):
// - hcloud (@pulumi/hcloud 1.41, bridged from hetznercloud/terraform-provider-hcloud): the
//   attributes marked `ForceNew: true` or `RequiresReplace()` in internal/<resource>/resource*.go.
// - docker (@pulumi/docker 5.2, bridged from kreuzwerker/terraform-provider-docker): the
//   attributes marked `ForceNew: true` in internal/provider/resource_docker_{container,image}.go.
//   Almost every container attribute is ForceNew; only restart policy, resource limits,
//   healthcheck and destroy_grace_seconds update in place.
// - tls (@pulumi/tls 5.6, bridged from hashicorp/terraform-provider-tls): every input of a
//   private key is RequiresReplace in internal/provider/resource_private_key.go.
// - command (@pulumi/command 1.2, a native provider): `triggers` carries the
//   `provider:"replaceOnChanges"` tag in provider/pkg/provider/common/inputs.go, and the SDK adds
//   `replaceOnChanges: ["triggers[*]"]` to every Command (recorded by the harness like any other
//   option). A change to `create`, `stdin`, `environment` or `connection` is an update that runs
//   the `update` command, or `create` again when there is none.
// Attribute names are the Pulumi (camelCase) names of the Terraform attributes.
//
// Names: no hcloud resource berth creates is replaced when its `name` changes (server, network,
// firewall, placement group, load balancer, managed certificate, volume and primary IP call
// ChangeName/Update on `HasChange("name")`; the SSH key updates it in place): renaming them to
// carry `<service>-<stack>` updates existing stacks in place. The names are unique per Hetzner
// project, which is why a resource replaced create-first must get a new name, or be deleted first.

export interface ReplacementRule {
  /** Top-level inputs whose change replaces the resource. */
  replaceOn: string[];
  /** Where that list comes from. */
  source: string;
}

const HCLOUD = "hetznercloud/terraform-provider-hcloud";
const DOCKER = "kreuzwerker/terraform-provider-docker internal/provider";

export const REPLACEMENT: Record<string, ReplacementRule> = {
  "hcloud:index/server:Server": {
    replaceOn: ["image", "location", "userData", "sshKeys", "datacenter"],
    source: `${HCLOUD} internal/server/resource.go (ForceNew)`,
  },
  "hcloud:index/primaryIp:PrimaryIp": {
    replaceOn: ["type", "location", "datacenter"],
    source: `${HCLOUD} internal/primaryip/resource.go (RequiresReplace)`,
  },
  "hcloud:index/volume:Volume": {
    replaceOn: ["location"],
    source: `${HCLOUD} internal/volume/resource.go (ForceNew)`,
  },
  "hcloud:index/volumeAttachment:VolumeAttachment": {
    replaceOn: ["volumeId", "serverId"],
    source: `${HCLOUD} internal/volume/resource_attachment.go (ForceNew)`,
  },
  "hcloud:index/sshKey:SshKey": {
    replaceOn: ["publicKey"],
    source: `${HCLOUD} internal/sshkey/resource.go (RequiresReplace)`,
  },
  "hcloud:index/network:Network": {
    replaceOn: ["ipRange"],
    source: `${HCLOUD} internal/network/resource.go (ForceNew)`,
  },
  "hcloud:index/networkSubnet:NetworkSubnet": {
    replaceOn: ["networkId", "type", "networkZone", "ipRange", "vswitchId"],
    source: `${HCLOUD} internal/network/resource_subnet.go (ForceNew)`,
  },
  "hcloud:index/firewall:Firewall": {
    replaceOn: [],
    source: `${HCLOUD} internal/firewall/resource.go (no ForceNew attribute)`,
  },
  "hcloud:index/placementGroup:PlacementGroup": {
    replaceOn: [],
    source: `${HCLOUD} internal/placementgroup/resource.go (no ForceNew attribute)`,
  },
  "hcloud:index/managedCertificate:ManagedCertificate": {
    replaceOn: ["domainNames"],
    source: `${HCLOUD} internal/certificate/resource.go (ForceNew)`,
  },
  "hcloud:index/loadBalancer:LoadBalancer": {
    replaceOn: ["location", "networkZone"],
    source: `${HCLOUD} internal/loadbalancer/resource.go (ForceNew)`,
  },
  "hcloud:index/loadBalancerService:LoadBalancerService": {
    replaceOn: ["loadBalancerId", "protocol", "listenPort"],
    source: `${HCLOUD} internal/loadbalancer/resource_service.go (ForceNew)`,
  },
  "hcloud:index/loadBalancerTarget:LoadBalancerTarget": {
    replaceOn: ["loadBalancerId", "serverId", "labelSelector", "ip"],
    source: `${HCLOUD} internal/loadbalancer/resource_target.go (ForceNew)`,
  },
  "hcloud:index/loadBalancerNetwork:LoadBalancerNetwork": {
    replaceOn: ["loadBalancerId", "networkId", "subnetId", "ip"],
    source: `${HCLOUD} internal/loadbalancer/resource_network.go (RequiresReplace)`,
  },
  "hcloud:index/zone:Zone": {
    replaceOn: ["name", "mode"],
    source: `${HCLOUD} internal/zone/resource.go (RequiresReplace)`,
  },
  "hcloud:index/zoneRrset:ZoneRrset": {
    replaceOn: ["zone", "name", "type"],
    source: `${HCLOUD} internal/zonerrset/resource.go (RequiresReplace)`,
  },
  "docker:index/container:Container": {
    replaceOn: [
      "name",
      "readOnly",
      "image",
      "hostname",
      "domainname",
      "command",
      "entrypoint",
      "user",
      "dns",
      "dnsOpts",
      "dnsSearches",
      "publishAllPorts",
      "workingDir",
      "capabilities",
      "securityOpts",
      "runtime",
      "platform",
      "stopSignal",
      "stopTimeout",
      "mounts",
      "volumes",
      "ports",
      "hosts",
      "ulimits",
      "envs",
      "privileged",
      "devices",
      "deviceRequests",
      "labels",
      "shmSize",
      "logDriver",
      "logOpts",
      "networkMode",
      "networksAdvanced",
      "pidMode",
      "usernsMode",
      "uploads",
      "sysctls",
      "ipcMode",
      "groupAdds",
      "init",
      "tty",
      "stdinOpen",
      "storageOpts",
      "gpus",
      "cpus",
      "cgroupnsMode",
      "cgroupParent",
    ],
    source: `${DOCKER}/resource_docker_container.go (ForceNew)`,
  },
  "docker:index/remoteImage:RemoteImage": {
    replaceOn: ["name", "pullTriggers", "triggers", "platform", "build"],
    source: `${DOCKER}/resource_docker_image.go (ForceNew)`,
  },
  "tls:index/privateKey:PrivateKey": {
    replaceOn: ["algorithm", "ecdsaCurve", "rsaBits", "opensshComment"],
    source: "hashicorp/terraform-provider-tls internal/provider/resource_private_key.go (RequiresReplace)",
  },
  "command:remote:Command": {
    replaceOn: ["triggers"],
    source: "pulumi/pulumi-command provider/pkg/provider/common/inputs.go (replaceOnChanges)",
  },
  "command:local:Command": {
    replaceOn: ["triggers"],
    source: "pulumi/pulumi-command provider/pkg/provider/common/inputs.go (replaceOnChanges)",
  },
};

/** Whether a change to the top-level input `key` of a resource of `type` replaces it. */
export function forcesReplacement(type: string, key: string): boolean {
  if (type.startsWith("pulumi:providers:")) return false;
  const rule = REPLACEMENT[type];
  if (!rule)
    throw new Error(
      `no replacement rule for ${type}: add its provider's replace-forcing inputs to guard/replacement.ts`,
    );
  return rule.replaceOn.includes(key);
}
