// Names the program and the command line must agree on, written once: the program sets them on
// hosts and in the stack, the command line finds things by them.

/** The kamal-proxy container on every host (Kamal's own name, so a host moved from Kamal keeps its proxy). */
export const PROXY_CONTAINER = "kamal-proxy";

/** The Docker label that holds the version an app container runs (`berth details` lists it). */
export const VERSION_LABEL = "berth.version";

/** The stack setting of the version to deploy; the stack's update history records it per update. */
export const VERSION_KEY = "berth:version";

/** The stack setting of the canary version (berth:canary); `berth rollout` sets and removes it. */
export const CANARY_KEY = "berth:canary";

/** The stack settings `berth maintenance` writes: the maintenance page on or off, and its message. */
export const MAINTENANCE_ENABLED_KEY = "berth:maintenance.enabled";
export const MAINTENANCE_MESSAGE_KEY = "berth:maintenance.message";

/** The traffic canary's share of requests, which `berth rollout set` writes. */
export const ROLLOUT_PERCENT_KEY = "berth:rollout.percent";

/** Whether a failed verification rolls back, which `berth up` reads. */
export const VERIFY_ROLLBACK_KEY = "berth:verify.rollback";
