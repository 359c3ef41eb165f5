// Docker container inputs from Kamal-style settings, shared by the app's containers
// (components/app.ts) and the accessories' (components/accessory.ts): volumes, run options, logging.
import * as docker from "@pulumi/docker";
import { ContainerOptions, DEFAULT_LOG_OPTIONS } from "../config/app";

/** A Kamal volume spec (`name:/path`, `/host:/path:ro`) as a Container volume. */
export function containerVolume(spec: string): docker.types.input.ContainerVolume {
  const [source, containerPath, mode] = spec.split(":");
  const readOnly = mode === "ro";
  return source.startsWith("/")
    ? { hostPath: source, containerPath, readOnly }
    : { volumeName: source, containerPath, readOnly };
}

/** Kamal-style run options as docker Container inputs. */
export function containerOptionInputs(o: ContainerOptions): Partial<docker.ContainerArgs> {
  return {
    memory: o.memory,
    memoryReservation: o.memoryReservation,
    memorySwap: o.memorySwap,
    cpus: o.cpus,
    cpuShares: o.cpuShares,
    shmSize: o.shmSize,
    user: o.user,
    workingDir: o.workingDir,
    init: o.init,
    readOnly: o.readOnly,
    stopSignal: o.stopSignal,
    hosts: o.hosts,
    capabilities: o.capAdd || o.capDrop ? { adds: o.capAdd, drops: o.capDrop } : undefined,
    ulimits: o.ulimits,
    tmpfs: o.tmpfs,
    securityOpts: o.securityOpts,
    sysctls: o.sysctls,
  };
}

/**
 * Logging inputs of a container. As in Kamal (lib/kamal/configuration/logging.rb): with no
 * driver and no options configured, `--log-opt max-size=10m`, so logs cannot fill the disk; any
 * configured driver or options replace that default.
 */
export function containerLogging(logging?: {
  driver?: string;
  options?: Record<string, string | number>;
}): Pick<docker.ContainerArgs, "logDriver" | "logOpts"> {
  const options = Object.entries(logging?.options ?? {});
  if (logging?.driver === undefined && options.length === 0) return { logOpts: { ...DEFAULT_LOG_OPTIONS } };
  return {
    logDriver: logging?.driver,
    logOpts: options.length ? Object.fromEntries(options.map(([k, v]) => [k, String(v)])) : undefined,
  };
}
