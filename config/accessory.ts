// Schema of accessories (Kamal's accessories): long-lived services such as PostGIS, Redis or
// Litestream that the app depends on. They are deployed once and changed only when their own
// configuration changes, never by an app version bump.
import { z } from "zod";
import { commandSchema, containerLabelsSchema, envSchema, mountSpecSchema, runOptionsSchema, secretName } from "./app";

/**
 * Litestream version whose configuration format berth writes. v0.3.13 reads `/etc/litestream.yml`
 * with `dbs: [{path, replicas: [{type: s3, bucket, path, region, endpoint, force-path-style}]}]`
 * and takes S3 credentials from LITESTREAM_ACCESS_KEY_ID / LITESTREAM_SECRET_ACCESS_KEY
 * (litestream.io/reference/config); its `restore` command knows `-if-db-not-exists`,
 * `-if-replica-exists` and `-o`.
 */
export const LITESTREAM_VERSION = "0.3.13";
export const LITESTREAM_IMAGE = `litestream/litestream:${LITESTREAM_VERSION}`;

/** The SQLite databases of a Rails 8 app in production: primary, cache, queue and cable. */
export const RAILS_SQLITE_DATABASES = [
  "production.sqlite3",
  "production_cache.sqlite3",
  "production_queue.sqlite3",
  "production_cable.sqlite3",
];

const accessoryName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,30}$/, "must be a lowercase name such as db or redis (letters, digits, dashes)");

/** True when an image reference names a tag or digest, so the same thing runs on every boot. */
export function pinnedImage(image: string): boolean {
  const last = image.slice(image.lastIndexOf("/") + 1);
  return (
    /@sha256:[a-f0-9]{64}$/.test(image) || (/:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(last) && !/:latest$/.test(last))
  );
}

const image = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._/:@-]*$/, "must be an image reference such as postgis/postgis:17-3.5")
  .refine(pinnedImage, "pin a version: add a tag other than latest (postgis/postgis:17-3.5) or a digest");

const hostName = z.string().min(1);

/** `5432`, `"5432:5432"` (host:container) or `"127.0.0.1:5432:5432"` (ip:host:container). */
const port = z
  .union([
    z.number().int().min(1).max(65535),
    z
      .string()
      .regex(
        /^(([0-9]{1,3}\.){3}[0-9]{1,3}:)?[0-9]{1,5}:[0-9]{1,5}$|^[0-9]{1,5}$/,
        'must be a port (5432), "host:container" or "ip:host:container"',
      ),
  ])
  .describe(
    "Port to publish (Kamal's port): `5432` or `host:container` binds to the host's private-network address; `127.0.0.1:5432:5432` to loopback only. A public address needs `publicPort: true`.",
  );

const fileEntry = z.union([
  z
    .string()
    .regex(/^[^:]+:\/[^:]*$/, "must be local/path:/path/in/container")
    .describe("Kamal's form: a local file (relative to the project) and its path in the container."),
  z
    .strictObject({
      source: z.string().min(1).optional().describe("Local file to upload, relative to the project directory."),
      content: z.string().optional().describe("The file's text, written inline instead of `source`."),
      target: z
        .string()
        .regex(/^\/[^:\s]*$/, "must be an absolute path in the container")
        .describe("Path of the file inside the container."),
      mode: z
        .string()
        .regex(/^0?[0-7]{3}$/, "must be an octal mode such as 0644")
        .default("0644")
        .describe("File mode on the host, e.g. 0600. Default 0644."),
    })
    .refine((f) => (f.source === undefined) !== (f.content === undefined), "set exactly one of source or content"),
]);

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name");

/** Where the postgres image reads the password from (POSTGRES_PASSWORD_FILE), mounted read-only. */
export const POSTGRES_PASSWORD_FILE = "/run/secrets/postgres-password";

export const postgresSchema = z
  .strictObject({
    database: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a lowercase database name")
      .describe("Database created on first boot (POSTGRES_DB)."),
    user: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a lowercase user name")
      .default("app")
      .describe("Database user (POSTGRES_USER). Default app."),
    passwordSecret: secretName.describe(
      "Name of the berth:secrets entry holding the password. A new value is set in the running database (psql, hashed before it is sent) before the apps get the new URL.",
    ),
    extensions: z
      .array(z.string().regex(/^[a-z_][a-z0-9_]*$/, "must be an extension name such as postgis"))
      .default([])
      .describe("Extensions enabled in the database once it answers, e.g. [postgis]."),
    databaseUrl: z
      .union([envName, z.literal(false)])
      .default("DATABASE_URL")
      .describe(
        "Variable through which every app container receives the connection URL (a secret). Default DATABASE_URL; false to leave it out.",
      ),
    databaseHost: z
      .union([envName, z.literal(false)])
      .default("DATABASE_HOST")
      .describe(
        "Variable through which every app container receives the database's address (the host part of the URL), for apps whose database.yml reads it. Default DATABASE_HOST; false to leave it out.",
      ),
  })
  .describe(
    "Makes the accessory a Postgres or PostGIS database: user, database and password set at first boot, a pg_isready health check, extensions, and a DATABASE_URL for the app.",
  );

export const litestreamSchema = z
  .strictObject({
    volume: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "must be the name of a docker volume of the app, e.g. storage")
      .default("storage")
      .describe("The app's docker volume holding the SQLite files (from berth:volumes). Default storage."),
    databases: z
      .array(z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_./-]*$/, "must be a file path inside the volume"))
      .min(1)
      .default(RAILS_SQLITE_DATABASES)
      .describe(
        "SQLite files to replicate, relative to the volume. Default: a Rails 8 app's production, cache, queue and cable databases.",
      ),
    replica: z
      .strictObject({
        bucket: z.string().min(3).describe("Bucket of the S3-compatible storage."),
        path: z
          .string()
          .default("")
          .describe("Prefix inside the bucket; each database replicates under <path>/<file name>."),
        endpoint: z
          .url()
          .optional()
          .describe("Endpoint of S3-compatible storage, e.g. https://fsn1.your-objectstorage.com. Default AWS S3."),
        region: z.string().optional().describe("Region of the storage, e.g. fsn1."),
        forcePathStyle: z.boolean().optional().describe("Address the bucket in the path (some S3-compatible stores)."),
        accessKeyIdSecret: secretName.describe("berth:secrets entry with the access key id."),
        secretAccessKeySecret: secretName.describe("berth:secrets entry with the secret access key."),
      })
      .describe("Where the databases are replicated."),
    owner: z
      .string()
      .regex(/^[0-9]+(:[0-9]+)?$/, "must be uid[:gid], e.g. 1000:1000")
      .default("1000:1000")
      .describe(
        "uid:gid that owns restored files: the user the app's image runs as. Default 1000:1000 (Rails 8's Dockerfile).",
      ),
    restore: z
      .boolean()
      .default(true)
      .describe(
        "Before the app's first container starts on a host, restore every database whose file is missing from its replica. Default true.",
      ),
  })
  .describe(
    `Makes the accessory Litestream (default image ${LITESTREAM_IMAGE}): replicates the app's SQLite databases to S3-compatible storage and restores them on a fresh host.`,
  );

export const backupSchema = z
  .strictObject({
    beforeDeploy: z
      .boolean()
      .default(true)
      .describe("Back up before every app deploy, before the new version's containers start (and migrate)."),
    keep: z.number().int().min(1).max(365).default(7).describe("How many backups to keep on the host. Default 7."),
  })
  .describe(
    "Database backups before a deploy: pg_dump for a postgres accessory, a consistent SQLite copy for a litestream accessory, written next to the data.",
  );

export const accessorySchema = z
  .strictObject({
    image: image
      .optional()
      .describe(`Image with a pinned tag or digest (Kamal's image). Required, except for litestream accessories.`),
    host: hostName.optional().describe("The host that runs the accessory (Kamal's host)."),
    hosts: z.array(hostName).min(1).optional().describe("Several hosts that each run the accessory (Kamal's hosts)."),
    roles: z.array(z.string()).min(1).optional().describe("Run on every host of these roles (Kamal's roles)."),
    cmd: commandSchema.optional().describe("Command instead of the image's (Kamal's cmd)."),
    port: port.optional(),
    publicPort: z
      .boolean()
      .default(false)
      .describe("Allow `port` to bind a public address (0.0.0.0). Off: ports bind only private or loopback addresses."),
    env: envSchema.optional().describe("Environment of the accessory (Kamal's env: clear and secret)."),
    files: z
      .array(fileEntry)
      .optional()
      .describe("Files uploaded to the host and mounted into the container (Kamal's files)."),
    directories: z
      .array(mountSpecSchema)
      .optional()
      .describe(
        "Host directories mounted into the container (Kamal's directories): `data:/var/lib/mysql` keeps `data` in the accessory's directory (on `volume` when set).",
      ),
    volumes: z
      .array(mountSpecSchema)
      .optional()
      .describe("Docker volumes or host paths mounted into the container (Kamal's volumes)."),
    volume: z
      .string()
      .optional()
      .describe(
        "A Hetzner volume of the host (berth:hosts.<host>.volumes) that holds the accessory's directories, so its data lives on protected block storage.",
      ),
    options: runOptionsSchema.optional().describe("Docker run options (Kamal's options)."),
    labels: containerLabelsSchema
      .optional()
      .describe("Docker labels (Kamal's labels). service, role, destination and berth.* are berth's own."),
    postgres: postgresSchema.optional(),
    litestream: litestreamSchema.optional(),
    backup: backupSchema.optional(),
  })
  .describe("A long-lived service the app depends on (Kamal's accessories.<name>).");

export type AccessoryInput = z.output<typeof accessorySchema>;

export const accessoriesSchema = z
  .record(accessoryName, accessorySchema)
  .describe("Accessories by name: databases, caches and other services (Kamal's accessories).");

/** A published port, resolved: which address of the host it binds. */
export interface AccessoryPort {
  /** `private` (the host's private-network address), `loopback`, or an explicit address. */
  bind: "private" | "loopback" | string;
  hostPort: number;
  containerPort: number;
}

export function parsePort(spec: number | string): AccessoryPort {
  if (typeof spec === "number") return { bind: "private", hostPort: spec, containerPort: spec };
  const parts = spec.split(":");
  if (parts.length === 1) return { bind: "private", hostPort: Number(parts[0]), containerPort: Number(parts[0]) };
  if (parts.length === 2) return { bind: "private", hostPort: Number(parts[0]), containerPort: Number(parts[1]) };
  const bind = parts[0] === "127.0.0.1" ? "loopback" : parts[0];
  return { bind, hostPort: Number(parts[1]), containerPort: Number(parts[2]) };
}

/** Addresses that are reachable only privately: loopback and RFC 1918 ranges. */
export function privateAddress(ip: string): boolean {
  const [a, b] = ip.split(".").map(Number);
  return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
}
