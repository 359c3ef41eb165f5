// Longer than 400 lines: the effect of every step type on one simulated world, which must see all of them to check its invariants.
// The world a stack's steps act on, simulated: Hetzner objects of one project (shared by every stack
// played in it), the machines behind its servers with their containers, kamal-proxy routes, volume
// mounts and databases, and the deploying machine's known SSH host keys. Each step's effect is read
// from the inputs Pulumi holds for the resource (guard/effects.ts); a step the real cloud, Docker,
// ssh or kamal-proxy would refuse fails here too (guard/engine.ts names the facts).
import { isStateful } from "./blast";
import {
  ContainerSpec,
  containerSpec,
  databaseTarget,
  dockerHost,
  fileWrite,
  keyMaterial,
  mountPaths,
  passwordChange,
  pinnedHostKeys,
  postgresData,
  proxyActions,
  under,
} from "./effects";
import { uniqueInputs } from "./engine";
import { PROXY_CONTAINER } from "../config/names";
import { Properties } from "../plan/properties";

/** One real object: what a state entry of Pulumi stands for. */
export interface Instance {
  id: number;
  stack: string;
  urn: string;
  type: string;
  name: string;
  inputs: Properties;
  alive: boolean;
  /** For containers: the machine they run on. */
  machine?: string;
}

export interface RunningContainer {
  instance: number;
  spec: ContainerSpec;
  /** Key of the data directory a database container runs on. */
  data?: string;
}

export interface Machine {
  id: string;
  /** How messages name it: the server's name, or the address of an existing machine. */
  label: string;
  alive: boolean;
  /** The server instance behind it; none for an existing machine given by address. */
  server?: number;
  hostKey: string;
  /** The host key was fixed in advance (cloud-init ssh_keys), not generated on first boot. */
  pinned: boolean;
  containers: Map<string, RunningContainer>;
  /** kamal-proxy's routes: service -> target container name. */
  routes: Map<string, string>;
  /**
   * kamal-proxy's rollout targets: service -> the canary container, and whether a split sends it
   * requests (`rollout set` until `rollout stop`; the target stays in its slot after a stop).
   */
  rollouts: Map<string, { target: string; split: boolean }>;
  /** Mounted volumes: mount path -> volume instance. */
  mounts: Map<string, number>;
}

export interface Database {
  user: string;
  /** Unknown when the database was initialised without its password file. */
  password?: string;
}

export interface World {
  nextId: number;
  instances: Map<number, Instance>;
  machines: Map<string, Machine>;
  /** Primary IP instance -> server instance it is assigned to. */
  ipAssignee: Map<number, number>;
  /** Volume instance -> server instance it is attached to. */
  volumeServer: Map<number, number>;
  /** The deploying machine's known_hosts: address -> host key. */
  knownHosts: Map<string, string>;
  /** Data directories holding a database: key -> its role and password. */
  databases: Map<string, Database>;
  /** Files steps wrote from their stdin: key (on a volume, or a machine's disk) -> content. */
  files: Map<string, string>;
  /**
   * Addresses of Hetzner servers as the stacks that own their primary IPs reached them: another
   * stack (an app attached to a server stack) reaches the same machine by address alone.
   */
  serverAt: Map<string, string>;
}

export function emptyWorld(): World {
  return {
    nextId: 1,
    instances: new Map(),
    machines: new Map(),
    ipAssignee: new Map(),
    volumeServer: new Map(),
    knownHosts: new Map(),
    databases: new Map(),
    files: new Map(),
    serverAt: new Map(),
  };
}

export const cloneWorld = (w: World): World => structuredClone(w);

/** A step the world refuses; `kind` names the invariant it would break, when it is one. */
export class StepFailure extends Error {
  constructor(
    message: string,
    readonly kind?: ViolationKind,
  ) {
    super(message);
  }
}

export type ViolationKind = "downtime" | "unique" | "stateful" | "data" | "database";

export interface Violation {
  kind: ViolationKind;
  message: string;
  /** Index of the step after which it was seen. */
  step: number;
  host?: string;
  service?: string;
}

/** What a resource is, as a step sees it: the goal for creates and updates, the state for deletes. */
export interface Subject {
  urn: string;
  type: string;
  name: string;
  inputs: Properties;
  propertyDependencies: Record<string, string[]>;
  dependencies: string[];
  provider: string;
}

/** What the world needs of the running update. */
export interface Context {
  stack: string;
  /** The live instance Pulumi's state holds for a URN right now. */
  instanceOf(urn: string): number | undefined;
  /** The state entry of a URN: how a provider resource is configured now. */
  entryOf(urn: string): { inputs: Properties; propertyDependencies: Record<string, string[]> } | undefined;
  /** Per host address, the volume mount points the program declares there. */
  declaredMounts: Map<string, string[]>;
  /** The goal inputs of the program's containers, by host address and container name. */
  goalContainer(address: string, name: string): ContainerSpec | undefined;
  violation(kind: ViolationKind, message: string, extra?: { host?: string; service?: string }): void;
}

const typeOfUrn = (urn: string) => urn.split("::")[2]?.split("$").pop() ?? "";
const PRIMARY_IP = "hcloud:index/primaryIp:PrimaryIp";
const providerUrn = (ref: string) => ref.replace(/::[^:]*$/, "");

function alive(world: World, id: number | undefined): Instance | undefined {
  const i = id === undefined ? undefined : world.instances.get(id);
  return i?.alive ? i : undefined;
}

/** The primary IP a host-acting input reaches its machine through (its property dependencies). */
function primaryIpOf(s: { propertyDependencies: Record<string, string[]> }, key: string): string | undefined {
  return (s.propertyDependencies[key] ?? []).find((u) => typeOfUrn(u) === PRIMARY_IP);
}

/** The machine that answers at an address now: the server holding the primary IP, or an existing machine. */
function machineAt(world: World, ctx: Context, address: string, ipUrn?: string): Machine | undefined {
  if (ipUrn) {
    const ip = ctx.instanceOf(ipUrn);
    const server = ip === undefined ? undefined : world.ipAssignee.get(ip);
    const m = server === undefined ? undefined : world.machines.get(`server:${server}`);
    if (m?.alive) world.serverAt.set(address, m.id);
    return m?.alive ? m : undefined;
  }
  const owned = world.serverAt.get(address);
  if (owned !== undefined) {
    const m = world.machines.get(owned);
    return m?.alive ? m : undefined;
  }
  const id = `static:${address}`;
  let m = world.machines.get(id);
  if (!m) {
    // An existing machine's host key is the user's to know (their known_hosts): it counts as pinned.
    m = newMachine(id, address, `static-${address}`, true);
    world.machines.set(id, m);
  }
  return m;
}

/** The berth host a server stands for (its `berth-host` label), else its name. */
const hostLabel = (s: Subject) => String(s.inputs.labels?.["berth-host"] ?? s.inputs.name ?? s.name);

function newMachine(id: string, label: string, hostKey: string, pinned: boolean): Machine {
  return {
    id,
    label,
    alive: true,
    hostKey,
    pinned,
    containers: new Map(),
    routes: new Map(),
    rollouts: new Map(),
    mounts: new Map(),
  };
}

/** Where a step reaches a host: a remote command's connection, or a docker resource's provider. */
/** The machine a step acts on, and the address it reached it at. */
type Where = { machine: Machine; address: string };

function target(world: World, ctx: Context, s: Subject): Where | undefined {
  if (s.type === "command:remote:Command") {
    const address = String(s.inputs.connection?.host ?? "");
    const m = machineAt(world, ctx, address, primaryIpOf(s, "connection"));
    if (!m) throw new StepFailure(`${s.name}: no machine answers at ${address}`);
    const pinned = s.inputs.connection?.hostKey;
    if (pinned && m.server !== undefined && keyMaterial(String(pinned)) !== m.hostKey)
      throw new StepFailure(
        `${s.name}: the host key of ${m.label} (${address}) is not the one pinned in connection.hostKey`,
      );
    return { machine: m, address };
  }
  if (!s.type.startsWith("docker:") || !s.provider) return undefined;
  const purn = providerUrn(s.provider);
  const provider = ctx.entryOf(purn);
  const host = provider && dockerHost(provider.inputs);
  if (!provider || !host) throw new StepFailure(`${s.name}: its docker provider ${purn} has no ssh:// host`);
  const ipUrn = primaryIpOf(provider, "host");
  const m = machineAt(world, ctx, host.address, ipUrn);
  if (!m) throw new StepFailure(`${s.name}: docker cannot reach ${host.address}: no machine holds that address`);
  // known_hosts is keyed by address; a primary IP is one address for as long as it exists.
  const known = ipUrn ?? host.address;
  if (host.policy === "accept-new") {
    const seen = world.knownHosts.get(known);
    if (seen && seen !== m.hostKey)
      throw new StepFailure(
        `${s.name}: ssh refuses ${m.label} at ${host.address}: its host key changed and StrictHostKeyChecking=accept-new only accepts the first key seen`,
      );
    world.knownHosts.set(known, m.hostKey);
  } else if (host.policy === "strict" && !m.pinned) {
    throw new StepFailure(`${s.name}: ssh refuses ${m.label} at ${host.address}: its host key is not known in advance`);
  }
  return { machine: m, address: host.address };
}

function uniqueness(world: World, ctx: Context, s: Subject, machine?: Machine, self?: number): void {
  for (const u of uniqueInputs(s.type)) {
    const value = s.inputs[u.input];
    if (value === undefined || value === "") continue;
    const norm = (v: unknown) => (u.how === "fingerprint" ? keyMaterial(String(v)) : String(v));
    if (u.scope === "host") {
      const other = machine?.containers.get(String(value));
      if (other && other.instance !== self) {
        const msg = `${s.name}: a ${u.kind} named ${value} already exists on ${machine!.label}`;
        ctx.violation("unique", msg, { host: machine!.label });
        throw new StepFailure(msg, "unique");
      }
      continue;
    }
    const clash = [...world.instances.values()].find(
      (i) => i.alive && i.id !== self && i.type === s.type && norm(i.inputs[u.input]) === norm(value),
    );
    if (clash) {
      const msg = `${s.name}: Hetzner rejects a second ${u.kind} ${u.how ? "" : `"${value}" `}in the project (held by ${clash.stack}/${clash.name})`;
      ctx.violation("unique", msg);
      throw new StepFailure(msg, "unique");
    }
  }
}

const refsTo = (ctx: Context, s: Subject, key: string, type: string) =>
  (s.propertyDependencies[key] ?? []).filter((u) => typeOfUrn(u) === type).map((u) => ctx.instanceOf(u));

/** Creates the object of a create or create-replacement step. Returns the new instance id. */
export function create(world: World, ctx: Context, s: Subject): number {
  const where = target(world, ctx, s);
  uniqueness(world, ctx, s, where?.machine);
  const id = world.nextId++;
  const inst: Instance = {
    id,
    stack: ctx.stack,
    urn: s.urn,
    type: s.type,
    name: s.name,
    inputs: s.inputs,
    alive: true,
  };
  switch (s.type) {
    case "hcloud:index/server:Server": {
      const ips = refsTo(ctx, s, "publicNets", PRIMARY_IP);
      for (const ip of ips) {
        const holder = ip === undefined ? undefined : alive(world, world.ipAssignee.get(ip));
        if (holder)
          throw new StepFailure(
            `${s.name}: Hetzner refuses the server: its primary IP is still assigned to ${holder.name} (primary_ip_assigned)`,
          );
      }
      for (const ip of ips) if (ip !== undefined) world.ipAssignee.set(ip, id);
      const keys = pinnedHostKeys(s.inputs.userData);
      world.machines.set(`server:${id}`, {
        ...newMachine(`server:${id}`, hostLabel(s), keys[0] ?? `generated-by-${s.name}#${id}`, keys.length > 0),
        server: id,
      });
      break;
    }
    case PRIMARY_IP:
      assignIp(world, ctx, s, id);
      break;
    case "hcloud:index/volumeAttachment:VolumeAttachment": {
      const [volume] = refsTo(ctx, s, "volumeId", "hcloud:index/volume:Volume");
      const [server] = refsTo(ctx, s, "serverId", "hcloud:index/server:Server");
      const holder = volume === undefined ? undefined : alive(world, world.volumeServer.get(volume));
      if (holder)
        throw new StepFailure(`${s.name}: the volume is still attached to ${holder.name} (volume_already_attached)`);
      if (volume !== undefined && server !== undefined) world.volumeServer.set(volume, server);
      break;
    }
    case "docker:index/container:Container":
      startContainer(world, ctx, s, where!, id);
      inst.machine = where!.machine.id;
      break;
    case "command:remote:Command":
      runScript(world, ctx, s, where!, String(s.inputs.create ?? ""));
      break;
  }
  world.instances.set(id, inst);
  return id;
}

/** Applies an update step to an existing object. */
export function update(world: World, ctx: Context, s: Subject, id: number): void {
  const inst = world.instances.get(id);
  if (!inst) throw new Error(`${s.name}: no object behind it`);
  const where = target(world, ctx, s);
  uniqueness(world, ctx, s, where?.machine, id);
  if (s.type === PRIMARY_IP) assignIp(world, ctx, s, id);
  if (s.type === "command:remote:Command")
    runScript(world, ctx, s, where!, String(s.inputs.update ?? s.inputs.create ?? ""));
  if (s.type === "hcloud:index/server:Server") {
    const m = world.machines.get(`server:${id}`);
    if (m) m.label = hostLabel(s);
  }
  inst.inputs = s.inputs;
}

/** Deletes the object of a delete step (with the inputs from state). */
export function remove(world: World, ctx: Context, s: Subject, id: number): void {
  const inst = world.instances.get(id);
  if (!inst?.alive) return;
  switch (s.type) {
    case "hcloud:index/server:Server": {
      for (const [ip, server] of world.ipAssignee) if (server === id) world.ipAssignee.delete(ip);
      for (const [v, server] of world.volumeServer) if (server === id) world.volumeServer.delete(v);
      const m = world.machines.get(`server:${id}`);
      if (m) m.alive = false;
      break;
    }
    case PRIMARY_IP:
      world.ipAssignee.delete(id);
      break;
    case "hcloud:index/volumeAttachment:VolumeAttachment":
      for (const [v] of world.volumeServer)
        if (refsTo(ctx, s, "volumeId", "hcloud:index/volume:Volume").includes(v)) world.volumeServer.delete(v);
      break;
    case "docker:index/container:Container": {
      // Docker removes a container by id: only where it was created, and only if that machine is still there.
      const m = inst.machine ? world.machines.get(inst.machine) : undefined;
      const name = String(inst.inputs.name ?? "");
      if (m?.alive && m.containers.get(name)?.instance === id) m.containers.delete(name);
      break;
    }
    case "command:remote:Command": {
      const script = s.inputs.delete;
      if (script) runScript(world, ctx, s, target(world, ctx, s)!, String(script));
      break;
    }
  }
  inst.alive = false;
}

function assignIp(world: World, ctx: Context, s: Subject, id: number): void {
  const [server] = refsTo(ctx, s, "assigneeId", "hcloud:index/server:Server");
  if (server === undefined) return;
  world.ipAssignee.set(id, server);
}

/** Data directory key: on the volume mounted there, else on the machine's own disk. */
function dataKey(m: Machine, path: string): string {
  const mount = [...m.mounts.keys()].filter((p) => under(path, p)).sort((a, b) => b.length - a.length)[0];
  return mount === undefined ? `disk:${m.id}:${path}` : `volume:${m.mounts.get(mount)}:${path.slice(mount.length)}`;
}

function startContainer(world: World, ctx: Context, s: Subject, where: Where, id: number) {
  const m = where.machine;
  const spec = containerSpec(s.inputs);
  for (const b of spec.binds) {
    if (!b.hostPath) continue;
    const mount = (ctx.declaredMounts.get(where.address) ?? []).find((p) => under(b.hostPath!, p));
    if (mount && !m.mounts.has(mount))
      ctx.violation(
        "data",
        `${s.name}: starts on ${m.label} with ${b.hostPath} on the root disk: the volume for ${mount} is not mounted there`,
        { host: m.label },
      );
  }
  const running: RunningContainer = { instance: id, spec };
  const pg = postgresData(spec);
  if (pg?.passwordFile && !world.files.has(dataKey(m, pg.passwordFile)))
    ctx.violation(
      "data",
      `${s.name}: starts on ${m.label} without its password file ${pg.passwordFile}, never written on that machine`,
      { host: m.label },
    );
  if (pg) {
    running.data = pg.bind?.hostPath
      ? dataKey(m, pg.bind.hostPath)
      : pg.bind?.volumeName
        ? `docker-volume:${m.id}:${pg.bind.volumeName}`
        : `container:${id}`;
    const password = pg.password ?? (pg.passwordFile ? world.files.get(dataKey(m, pg.passwordFile)) : undefined);
    if (!world.databases.has(running.data)) world.databases.set(running.data, { user: pg.user, password });
  }
  const db = databaseTarget(spec);
  if (db) {
    const found = findDatabase(world, m, db.host, db.port);
    if (found && (found.user !== db.user || found.password !== db.password))
      ctx.violation(
        "database",
        `${s.name}: starts on ${m.label} with a DATABASE_URL the database at ${db.host}:${db.port} rejects (its password was set when its data directory was initialised)`,
        { host: m.label },
      );
  }
  m.containers.set(spec.name, running);
}

/** The database an address reaches: a container by name on the same machine, or a port published on a private IP. */
function findDatabase(world: World, from: Machine, host: string, port: number): Database | undefined {
  const onMachine = (m: Machine) =>
    [...m.containers.values()].find(
      (c) =>
        c.data && (c.spec.name === host || c.spec.ports.some((p) => p.external === port && (!p.ip || p.ip === host))),
    );
  const local = [...from.containers.values()].find((c) => c.data && c.spec.name === host);
  if (local) return world.databases.get(local.data!);
  for (const m of world.machines.values()) {
    if (!m.alive || m.server === undefined) continue;
    const server = world.instances.get(m.server);
    const ips = (server?.inputs.networks ?? []).map((n: Properties) => n.ip);
    if (!ips.includes(host)) continue;
    const c = onMachine(m);
    if (c) return world.databases.get(c.data!);
  }
  return undefined;
}

function runScript(world: World, ctx: Context, s: Subject, where: Where, script: string) {
  const m = where.machine;
  for (const path of mountPaths(script, s.name)) {
    const volumes = s.dependencies
      .filter((u) => typeOfUrn(u) === "hcloud:index/volume:Volume")
      .map((u) => ctx.instanceOf(u));
    const volume = volumes.find((v) => v !== undefined && world.volumeServer.get(v) === m.server);
    if (volume === undefined)
      throw new StepFailure(
        `${s.name}: the volume's device never appears on ${m.label}: it is not attached to that server`,
      );
    m.mounts.set(path, volume);
  }
  for (const action of proxyActions(script, s.name)) {
    const proxy = m.containers.get(PROXY_CONTAINER);
    if (action.kind === "remove") {
      m.routes.delete(action.service);
      m.rollouts.delete(action.service);
      continue;
    }
    if (!proxy) throw new StepFailure(`${s.name}: kamal-proxy is not running on ${m.label}`);
    // kamal-proxy v0.9.2 internal/server/router.go: SetRolloutTargets needs the service (and health
    // checks the target), SetRolloutSplit needs a rollout target, StopRollout only drops the split.
    const rollout = m.rollouts.get(action.service);
    if (action.kind === "rollout-stop") {
      if (rollout) rollout.split = false;
      continue;
    }
    if (action.kind === "rollout-set") {
      if (!rollout) throw new StepFailure(`${s.name}: ${action.service} on ${m.label} has no rollout target`);
      rollout.split = true;
      continue;
    }
    if (action.kind === "rollout-deploy" && !m.routes.has(action.service))
      throw new StepFailure(`${s.name}: no service ${action.service} on ${m.label} to roll out to`);
    if (!m.containers.has(action.target))
      throw new StepFailure(
        `${s.name}: ${action.target} does not answer its health check on ${m.label}: it is not running there`,
      );
    if (action.kind === "rollout-deploy")
      m.rollouts.set(action.service, { target: action.target, split: rollout?.split ?? false });
    else m.routes.set(action.service, action.target);
  }
  const written = fileWrite(script);
  if (written) world.files.set(dataKey(m, written), String(s.inputs.stdin ?? ""));
  const change = passwordChange(script);
  if (change) {
    const db = [...m.containers.values()].find(
      (c) => c.data && (!change.container || c.spec.name === change.container),
    );
    if (!db) throw new StepFailure(`${s.name}: no database container ${change.container ?? ""} runs on ${m.label}`);
    const stdin = s.inputs.stdin === undefined ? undefined : String(s.inputs.stdin).split("\n")[0];
    const goal = ctx.goalContainer(where.address, db.spec.name);
    const password = stdin ?? (goal && postgresData(goal)?.password);
    const current = world.databases.get(db.data!);
    if (current) world.databases.set(db.data!, { ...current, password });
  }
}

/** A machine serves traffic unless its server is being replaced or removed by the running update. */
export function checkRoutes(world: World, ctx: Context, leaving: Set<number>): void {
  for (const m of world.machines.values()) {
    if (!m.alive || !m.routes.size) continue;
    if (m.server !== undefined && (leaving.has(m.server) || ![...world.ipAssignee.values()].includes(m.server)))
      continue;
    if (!m.containers.has(PROXY_CONTAINER)) {
      for (const service of m.routes.keys())
        ctx.violation("downtime", `${service} on ${m.label}: kamal-proxy is not running`, { host: m.label, service });
      continue;
    }
    for (const [service, r] of m.rollouts)
      if (r.split && !m.containers.has(r.target))
        ctx.violation(
          "downtime",
          `${service} on ${m.label}: kamal-proxy splits requests to ${r.target}, which is not running`,
          {
            host: m.label,
            service,
          },
        );
    for (const [service, container] of m.routes)
      if (!m.containers.has(container))
        ctx.violation(
          "downtime",
          `${service} on ${m.label}: kamal-proxy routes to ${container}, which is not running`,
          {
            host: m.label,
            service,
          },
        );
  }
}

/** Stateful or protected: its loss is never a side effect. */
export const holdsData = (r: { type: string; inputs: Properties; protect: boolean }) => r.protect || isStateful(r);
