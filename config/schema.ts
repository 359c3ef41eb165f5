// The one description of a berth stack's configuration. Validation, the TypeScript types,
// the JSON Schema for editors (schema/berth.schema.json) and docs/configuration.md all come
// from here; `npm run schema` regenerates the last two and a test fails when they drift.
// This module gathers what the rest of berth uses; the parts live in config/schema/: the input
// (input.ts, with the hosts section in hosts.ts), the rules that span several keys (rules.ts,
// accessoryRules.ts), what rules and model both derive (resolve.ts) and the normalised model
// components receive (model.ts, accessoryModel.ts).
export { stackSchema } from "./schema/input";
export {
  dataVolumeSchema,
  hostKeyScan,
  hostKeysHelp,
  hostNamePattern,
  LOCATIONS,
  NETWORK_ZONES,
  parseHostKey,
  usableHostKey,
} from "./schema/hosts";
export type { Location, NetworkZone } from "./schema/hosts";
export { FINGERPRINT_KEY } from "./schema/rules";
export type { RawStack } from "./schema/input";
export { mergeEnv, primaryRoleOf } from "./schema/resolve";
export type { Edge, ResolvedEnv, ResolvedProxy } from "./schema/resolve";
export { normalize, PROXY_STATE_DIR, proxyCertificatePaths, serverName } from "./schema/model";
export type { CloudHost, DeployConfig, ExistingHost, HostConfig, Role } from "./schema/model";
export { accessoryFileSources } from "./schema/accessoryModel";
export type { Accessory, AccessoryFile } from "./schema/accessoryModel";
