// The engine and provider facts the lifecycle planner (guard/lifecycle.ts) and its simulated world
// (guard/world.ts) rely on, each with the upstream source that states it. Which inputs force a
// replacement stays in guard/replacement.ts (one row per resource type); everything else a plan
// or a step's effect depends on is here, so the next provider fact is one line of PROVIDER_FACTS.
//
// Read at: pulumi/pulumi 1b59498 (2026-08), pulumi/pulumi-docker 237b789, pulumi/pulumi-command
// 010bd8e, hetznercloud/terraform-provider-hcloud f81c9af, basecamp/kamal-proxy v0.9.2.

export { forcesReplacement, REPLACEMENT } from "./replacement";

export interface EngineRule {
  id: string;
  rule: string;
  source: string;
}

const SG = "pulumi/pulumi pkg/resource/deploy/step_generator.go";

/** How Pulumi's engine turns a program and a state into steps, and runs them. */
export const ENGINE_RULES: EngineRule[] = [
  {
    id: "order",
    rule: "Creates, updates and replacements run as the program registers resources, each after the resources it depends on.",
    source: `${SG} (GenerateSteps per registration); pkg/resource/deploy/step_executor.go`,
  },
  {
    id: "aliases",
    rule: "A resource of the program that is not in state under its URN but under one of its aliases is that resource, renamed: diffed against its old state like any other, not created anew beside it nor deleted as gone.",
    source: `${SG} getOldResource (URN first, then each alias), collapseAliasToUrn`,
  },
  {
    id: "deletes-last",
    rule: "Resources that left the program, and the old halves of create-first replacements, are deleted after every other step, in reverse dependency order.",
    source: `${SG} GenerateDeletes, ScheduleDeletes; pkg/resource/deploy/deployment_executor.go performPostSteps`,
  },
  {
    id: "create-before-delete",
    rule: "A replacement creates the new resource first and deletes the old one with the deletions at the end.",
    source: `${SG} continueStepsFromDiff (NewCreateReplacementStep, delete generated later)`,
  },
  {
    id: "delete-before-replace",
    rule: "A replacement deletes first when the resource option deleteBeforeReplace is true, or when it is unset and the provider's diff says so; an explicit false overrides the provider.",
    source: `${SG} continueStepsFromDiff (diff.DeleteBeforeReplace, goal.DeleteBeforeReplace)`,
  },
  {
    id: "delete-before-replace-dependents",
    rule: "Before a delete-first replacement, every dependent that the replacement would replace (an input reading it forces replacement, or its provider is replaced) is deleted first, in reverse dependency order.",
    source: `${SG} calculateDependentReplacements`,
  },
  {
    id: "pending-delete",
    rule: "When an update fails after a create-first replacement but before its delete, the old resource stays in state marked for deletion; the next update deletes it with its other deletions at the end (no longer first, since v3.46).",
    source: "pulumi/pulumi#2948 fixed by #11027; pkg/engine/lifecycletest/pulumi_test.go TestPendingDeleteOrder",
  },
  {
    id: "pending-replacement",
    rule: "When an update fails after the delete of a delete-first replacement, the resource stays in state marked pendingReplacement; the next update creates it without deleting again, or drops it from state if it left the program.",
    source: `pulumi/pulumi#16699; ${SG} (old.PendingReplacement, NewRemovePendingReplaceStep)`,
  },
  {
    id: "failure-stops",
    rule: "A failed step fails the update: no further step starts and no deletion runs; what completed stays in state.",
    source: "pulumi/pulumi pkg/resource/deploy/deployment_executor.go Execute",
  },
  {
    id: "protect-replace",
    rule: "Replacing a resource protected in state and program stops the update before that step.",
    source: `${SG} continueStepsFromDiff ("unable to replace resource ... marked for protection")`,
  },
  {
    id: "protect-delete",
    rule: "Deleting a protected resource fails that step.",
    source: "pulumi/pulumi pkg/resource/deploy/step.go DeleteStep.Apply (deleteProtectedError)",
  },
  {
    id: "retain-on-delete",
    rule: "A resource with retainOnDelete leaves state without the provider deleting it.",
    source: "pulumi/pulumi pkg/resource/deploy/step.go DeleteStep.Apply (RetainOnDelete)",
  },
  {
    id: "ignore-changes",
    rule: "An ignored input keeps its value from state for the diff and for updates; a replacement (forced by the diff or by --replace) is created from the program's inputs.",
    source: `${SG} processIgnoreChanges; continueStepsFromDiff and generateResourceSteps (Check on goal.Properties when replacing)`,
  },
  {
    id: "replace-on-changes",
    rule: "A change under a replaceOnChanges path replaces the resource.",
    source: `${SG} applyReplaceOnChanges`,
  },
  {
    id: "replace-target",
    rule: "`pulumi up --replace <urn>` replaces that resource whatever its diff.",
    source: `${SG} isTargetedReplace`,
  },
  {
    id: "command-update",
    rule: "A command whose inputs change (not its triggers) is updated: its `update` script runs, or `create` again when it has none; a command that did not change runs nothing.",
    source: "pulumi/pulumi-command provider/pkg/provider/remote/commandController.go Update",
  },
  {
    id: "command-delete",
    rule: "Deleting a command runs its `delete` script from state, on the connection stored in state; without one nothing runs.",
    source: "pulumi/pulumi-command provider/pkg/provider/remote/commandController.go Delete",
  },
  {
    id: "command-failed-create",
    rule: "A command whose create script fails is not recorded in state.",
    source: "pulumi/pulumi-command commandController.go Create (plain error, no ResourceInitFailedError)",
  },
  {
    id: "command-host-key",
    rule: "A remote command checks the host key only when connection.hostKey is set.",
    source:
      "pulumi/pulumi-command provider/pkg/provider/remote/connection.go (FixedHostKey, else InsecureIgnoreHostKey)",
  },
];

export type UniqueScope = "project" | "host";

export interface ProviderFact {
  /** Resource type token. */
  type: string;
  /** The provider replaces this type delete-first. */
  deleteBeforeReplace?: true;
  /** An input whose value must be unique among live objects of this kind, in this scope. */
  unique?: { input: string; kind: string; scope: UniqueScope; how?: "fingerprint" };
  source: string;
}

const API = "Hetzner Cloud API reference (docs.hetzner.cloud), create request `name`: unique per project";
const TF = "hetznercloud/terraform-provider-hcloud";
const HC = "hcloud:index";

/** A Hetzner object whose `input` must be unique in the project. */
const unique = (type: string, kind: string, source: string, input = "name", how?: "fingerprint"): ProviderFact => ({
  type,
  unique: { input, kind, scope: "project", how },
  source,
});

/** Per resource type: how its provider replaces it, and which of its inputs must be unique. One fact a line. */
export const PROVIDER_FACTS: ProviderFact[] = [
  {
    type: "docker:index/container:Container",
    deleteBeforeReplace: true,
    source: "pulumi/pulumi-docker provider/resources.go (docker_container: DeleteBeforeReplace: true)",
  },
  {
    type: "docker:index/container:Container",
    unique: { input: "name", kind: "container", scope: "host" },
    source: "Docker Engine API POST /containers/create (409 Conflict when the name is in use)",
  },
  unique(`${HC}/server:Server`, "server", `${TF} docs/resources/server.md ("must be unique per project"); ${API}`),
  unique(`${HC}/network:Network`, "network", `${TF} docs/resources/network.md ("must be unique per project")`),
  unique(`${HC}/volume:Volume`, "volume", `${TF} docs/resources/volume.md ("must be unique per project")`),
  unique(`${HC}/firewall:Firewall`, "firewall", API),
  unique(`${HC}/placementGroup:PlacementGroup`, "placement group", API),
  unique(`${HC}/loadBalancer:LoadBalancer`, "load balancer", API),
  unique(`${HC}/managedCertificate:ManagedCertificate`, "certificate", `${TF} docs/resources/managed_certificate.md`),
  unique(`${HC}/primaryIp:PrimaryIp`, "primary IP", API),
  unique(`${HC}/sshKey:SshKey`, "SSH key", API),
  unique(`${HC}/sshKey:SshKey`, "SSH key fingerprint", `${TF}#12 (uniqueness_error)`, "publicKey", "fingerprint"),
  unique(`${HC}/zone:Zone`, "DNS zone", API),
];

export interface WorldFact {
  id: string;
  fact: string;
  source: string;
}

/** What the hosts, the cloud and the services on them do, as the simulated world models it. */
export const WORLD_FACTS: WorldFact[] = [
  {
    id: "primary-ip-one-server",
    fact: "A primary IP is assigned to at most one server: creating a server with an assigned one fails.",
    source: "Hetzner Cloud API POST /servers, error `primary_ip_assigned`",
  },
  {
    id: "primary-ip-outlives-server",
    fact: "Deleting a server unassigns its primary IPs (auto_delete false keeps them); updating assignee_id unassigns, then assigns.",
    source: `${TF} internal/primaryip/resource.go (Update: Unassign, then Assign)`,
  },
  {
    id: "volume-one-server",
    fact: "A volume is attached to at most one server: attaching an attached volume fails; deleting a server detaches its volumes.",
    source: "hetznercloud/hcloud-go hcloud/error.go (`volume_already_attached`: detach first)",
  },
  {
    id: "container-name",
    fact: "Container names are unique per Docker daemon; kamal-proxy reaches targets by name on the shared network.",
    source: "Docker Engine API POST /containers/create (409 Conflict)",
  },
  {
    id: "proxy-deploy",
    fact: "`kamal-proxy deploy` switches a service only once its target passes the health check; otherwise the route is unchanged and the command fails.",
    source:
      "basecamp/kamal-proxy internal/server/router.go DeployService (createLoadBalancer waits for healthy targets)",
  },
  {
    id: "proxy-state",
    fact: "kamal-proxy keeps its routes in a state file in its data directory (berth's proxy volume), so they survive a restart or a new proxy container on the same machine; `remove` drops a route.",
    source: "basecamp/kamal-proxy internal/server/config.go StatePath, router.go RestoreLastSavedState, RemoveService",
  },
  {
    id: "postgres-password",
    fact: "The Postgres image applies POSTGRES_PASSWORD only when it initialises an empty data directory.",
    source: "docker-library/postgres docker-entrypoint.sh (DATABASE_ALREADY_EXISTS)",
  },
  {
    id: "accept-new",
    fact: "ssh with StrictHostKeyChecking=accept-new records the first key seen for an address and refuses a different one later.",
    source: "OpenSSH ssh_config(5); kreuzwerker/terraform-provider-docker#80",
  },
];

/** Whether the provider replaces resources of `type` delete-first. */
export function providerDeletesFirst(type: string): boolean {
  return PROVIDER_FACTS.some((f) => f.type === type && f.deleteBeforeReplace);
}

/** Whether a replacement of `r` deletes first: the resource option when the program set it, else the provider. */
export function deletesFirst(r: { type: string; deleteBeforeReplace: boolean; deleteBeforeReplaceDefined?: boolean }) {
  if (r.deleteBeforeReplace) return true;
  if (r.deleteBeforeReplaceDefined) return false;
  return providerDeletesFirst(r.type);
}

/** The inputs of `type` that must be unique, and in which scope. */
export function uniqueInputs(type: string): NonNullable<ProviderFact["unique"]>[] {
  return PROVIDER_FACTS.filter((f) => f.type === type && f.unique).map((f) => f.unique!);
}
