// An accessory: a long-lived container (database, cache, Litestream) on its hosts, with its
// files, directories and data volume. Nothing here depends on the app version, so a deploy
// never touches it; a change to the accessory's own config redeploys only the accessory.
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import { LITESTREAM_VERSION, POSTGRES_PASSWORD_FILE } from "../config/accessory";
import { Accessory as AccessoryConfig, DeployConfig } from "../config/schema";
import { Secrets } from "../config/stack";
import { databaseIsLocal, homeDirectory } from "./app";
import { containerLogging, containerOptionInputs, containerVolume } from "./container";
import { DOCKER_NETWORK } from "./bootstrap";
import { awaitRunningScript } from "./commands/app";
import { directoriesScript, writeFileScript } from "./commands/host";
import {
  LITESTREAM_CONFIG,
  LITESTREAM_DATA,
  litestreamRestoreScript,
  postgresExtensionsScript,
  postgresPasswordScript,
  postgresPasswordStdin,
} from "./commands/accessory";
import { Host } from "./host";

export interface AccessoryArgs {
  accessory: AccessoryConfig;
  config: DeployConfig;
  hosts: Record<string, Host>;
  secrets: Secrets;
}

/** Per host: where an accessory keeps its files and directories. */
export function accessoryDirectory(cfg: DeployConfig, acc: AccessoryConfig, host: string): string {
  const h = cfg.hosts[host];
  if (acc.volume && h.kind === "cloud") return `${h.volumes[acc.volume].mountPath}/${acc.container}`;
  return `${homeDirectory(cfg)}/.berth/accessories/${acc.container}`;
}

/**
 * The `litestream.yml` berth writes, in the format of Litestream v0.3.13 (see
 * LITESTREAM_VERSION): one entry per database with one S3 replica; credentials stay out of
 * the file and come from the container's LITESTREAM_* variables.
 */
export function litestreamConfig(ls: NonNullable<AccessoryConfig["litestream"]>): string {
  const prefix = ls.replica.path.replace(/^\/+|\/+$/g, "");
  const dbs = ls.databases.map((db) => ({
    path: `${LITESTREAM_DATA}/${db}`,
    replicas: [
      {
        type: "s3",
        bucket: ls.replica.bucket,
        path: prefix ? `${prefix}/${db}` : db,
        ...(ls.replica.endpoint ? { endpoint: ls.replica.endpoint } : {}),
        ...(ls.replica.region ? { region: ls.replica.region } : {}),
        ...(ls.replica.forcePathStyle !== undefined ? { "force-path-style": ls.replica.forcePathStyle } : {}),
      },
    ],
  }));
  return `# Litestream ${LITESTREAM_VERSION} configuration, written by berth.\n${stringify({ dbs })}`;
}

/** What the operations CLI and people need to know of an accessory. */
export interface AccessoryOutputs {
  hosts: string[];
  container: string;
  image: string;
  port?: number;
}

export class Accessory extends pulumi.ComponentResource {
  readonly config: AccessoryConfig;
  /** Per host: the container, and the step that completes once it is running (and healthy). */
  readonly containers: Record<string, docker.Container> = {};
  readonly ready: Record<string, command.remote.Command> = {};
  /** Per host: the Litestream restore the app's first container waits for. */
  readonly restores: Record<string, command.remote.Command> = {};
  /** Postgres: the connection URL for the app, a secret. */
  readonly databaseUrl?: pulumi.Output<string>;
  /** Postgres: the address apps reach the database at (the URL's host). */
  readonly databaseHost?: pulumi.Output<string>;
  readonly outputs: AccessoryOutputs;

  constructor(name: string, args: AccessoryArgs, opts?: pulumi.ComponentResourceOptions) {
    super("berth:accessory:Accessory", name, {}, opts);
    const child = { parent: this };
    const acc = args.accessory;
    const cfg = args.config;
    this.config = acc;

    for (const hostName of acc.hosts) {
      const host = args.hosts[hostName];
      const id = `${name}-${hostName}`;
      const dir = accessoryDirectory(cfg, acc, hostName);
      const mount = acc.volume ? host.mounts[acc.volume]?.command : undefined;
      const base = [host.ready, ...(mount ? [mount] : [])];
      // Directories and files are written again on a replaced server, before the container starts
      // there (the host's generation changes with the machine). The last output is not sent back
      // as variables sshd would refuse (pulumi-command remote/commandOutputs.go).
      const onEveryMachine = { triggers: [host.generation], addPreviousOutputInEnv: false };

      const hostDirs = acc.directories
        .filter((d) => !d.startsWith("/"))
        .map((d) => `${dir}/${d.split(":")[0]}`)
        .concat(acc.directories.filter((d) => d.startsWith("/")).map((d) => d.split(":")[0]));
      const prepared: pulumi.Resource[] = [...base];
      if (hostDirs.length > 0) {
        prepared.push(
          new command.remote.Command(
            `${id}-directories`,
            { connection: host.connection, create: directoriesScript(hostDirs), ...onEveryMachine },
            { ...child, dependsOn: base },
          ),
        );
      }

      const files = [...acc.files];
      if (acc.litestream) {
        files.push({ target: LITESTREAM_CONFIG, mode: "0644", content: litestreamConfig(acc.litestream) });
      }
      const fileMounts: docker.types.input.ContainerVolume[] = [];
      files.forEach((file) => {
        const hostPath = `${dir}/files${file.target}`;
        prepared.push(
          new command.remote.Command(
            `${id}-file${file.target.replace(/[^A-Za-z0-9.]+/g, "-")}`,
            {
              connection: host.connection,
              create: writeFileScript(hostPath, file.mode),
              ...onEveryMachine,
              // A config file may hold a credential: its text stays a secret in state and previews.
              stdin: pulumi.secret(file.content),
            },
            { ...child, dependsOn: base },
          ),
        );
        fileMounts.push({ hostPath, containerPath: file.target, readOnly: true });
      });

      const pg = acc.postgres;
      const password = pg ? args.secrets.get(pg.passwordSecret) : undefined;
      if (password) {
        // Read by the image only to initialise an empty data directory (POSTGRES_PASSWORD_FILE).
        const hostPath = `${dir}/files${POSTGRES_PASSWORD_FILE}`;
        prepared.push(
          new command.remote.Command(
            `${id}-password-file`,
            {
              connection: host.connection,
              create: writeFileScript(hostPath, "0600"),
              stdin: password,
              ...onEveryMachine,
            },
            { ...child, dependsOn: base },
          ),
        );
        fileMounts.push({ hostPath, containerPath: POSTGRES_PASSWORD_FILE, readOnly: true });
      }

      if (acc.litestream?.restore) {
        const ls = acc.litestream;
        const configFile = prepared[prepared.length - 1];
        this.restores[hostName] = new command.remote.Command(
          `${id}-restore`,
          {
            connection: host.connection,
            create: litestreamRestoreScript({
              image: acc.image,
              volume: ls.volume,
              configPath: `${dir}/files${LITESTREAM_CONFIG}`,
              databases: ls.databases,
              owner: ls.owner,
            }),
            stdin: pulumi
              .all([args.secrets.get(ls.replica.accessKeyIdSecret), args.secrets.get(ls.replica.secretAccessKeySecret)])
              .apply(([id, key]) => `${id}\n${key}\n`),
            // A replaced server is a fresh host: restore again there.
            triggers: [host.ready.id],
            addPreviousOutputInEnv: false,
          },
          { ...child, dependsOn: [configFile] },
        );
        prepared.push(this.restores[hostName]);
      }

      const image = new docker.RemoteImage(
        `${id}-image`,
        { name: acc.image, keepLocally: true, triggers: { host: host.generation } },
        { ...child, provider: host.docker, dependsOn: base },
      );

      const port = acc.port;
      const bindIp =
        port === undefined
          ? undefined
          : port.bind === "private"
            ? host.privateIp
            : port.bind === "loopback"
              ? pulumi.output("127.0.0.1")
              : pulumi.output(port.bind);
      const container = new docker.Container(
        id,
        {
          name: acc.container,
          image: image.imageId,
          command: acc.cmd,
          restart: "unless-stopped",
          envs: [
            ...Object.entries(acc.env.clear).map(([k, v]) => `${k}=${v}`),
            ...Object.entries(acc.env.secret).map(
              ([k, secret]) => pulumi.interpolate`${k}=${args.secrets.get(secret)}`,
            ),
          ],
          labels: Object.entries({
            service: acc.container,
            "berth.accessory": acc.name,
            destination: cfg.stack,
            ...acc.labels,
          })
            .map(([label, value]): docker.types.input.ContainerLabel => ({ label, value }))
            .concat([{ label: "berth.host-generation", value: host.generation }]),
          networksAdvanced: [{ name: DOCKER_NETWORK, aliases: [acc.container] }],
          ports:
            port && bindIp
              ? [{ internal: port.containerPort, external: port.hostPort, ip: bindIp, protocol: "tcp" }]
              : undefined,
          volumes: [
            ...acc.directories.map((d) => {
              const [source, target, mode] = d.split(":");
              return {
                hostPath: source.startsWith("/") ? source : `${dir}/${source}`,
                containerPath: target,
                readOnly: mode === "ro",
              };
            }),
            ...acc.volumes.map(containerVolume),
            ...fileMounts,
          ],
          healthcheck: pg
            ? {
                tests: ["CMD", "pg_isready", "-U", pg.user, "-d", pg.database],
                interval: "5s",
                timeout: "5s",
                retries: 12,
                startPeriod: "10s",
              }
            : undefined,
          // Kamal's default log rotation (max-size 10m), so a chatty service cannot fill the disk.
          ...containerLogging(),
          ...containerOptionInputs(acc.options),
          // A database gets time to shut down cleanly.
          destroyGraceSeconds: 60,
          stopTimeout: 60,
        },
        // A fixed container name and host port: the old container must go before the new starts.
        { ...child, provider: host.docker, deleteBeforeReplace: true, dependsOn: prepared },
      );
      this.containers[hostName] = container;

      let ready = new command.remote.Command(
        `${id}-ready`,
        {
          connection: host.connection,
          create: awaitRunningScript(acc.container, 7, 180),
          triggers: [container.id],
          addPreviousOutputInEnv: false,
        },
        { ...child, dependsOn: [container] },
      );
      if (pg && password) {
        // The image set the password only when it created the database: a new one (a rotation)
        // is set in the running database here, before any app container gets the new URL.
        ready = new command.remote.Command(
          `${id}-password`,
          {
            connection: host.connection,
            create: postgresPasswordScript(acc.container, pg.user, pg.database),
            stdin: password.apply(postgresPasswordStdin),
            triggers: [container.id],
            addPreviousOutputInEnv: false,
          },
          { ...child, dependsOn: [ready] },
        );
      }
      if (pg && pg.extensions.length > 0) {
        ready = new command.remote.Command(
          `${id}-extensions`,
          {
            connection: host.connection,
            create: postgresExtensionsScript(acc.container, pg.user, pg.database, pg.extensions),
            triggers: [container.id],
            addPreviousOutputInEnv: false,
          },
          { ...child, dependsOn: [ready] },
        );
      }
      this.ready[hostName] = ready;
    }

    const pg = acc.postgres;
    if (pg && pg.databaseUrl !== false) {
      const dbHost = args.hosts[acc.hosts[0]];
      const local = databaseIsLocal(cfg, acc);
      const address = local ? pulumi.output(acc.container) : dbHost.privateIp;
      const port = local ? (acc.port?.containerPort ?? 5432) : acc.port!.hostPort;
      this.databaseHost = address;
      this.databaseUrl = pulumi.secret(
        pulumi
          .all([address, args.secrets.get(pg.passwordSecret)])
          .apply(
            ([addr, password]) =>
              `postgres://${pg.user}:${encodeURIComponent(password)}@${addr}:${port}/${pg.database}`,
          ),
      );
    }

    this.outputs = {
      hosts: acc.hosts,
      container: acc.container,
      image: acc.image,
      ...(acc.port ? { port: acc.port.hostPort } : {}),
    };
    this.registerOutputs({ outputs: this.outputs });
  }
}
