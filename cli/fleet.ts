// `berth fleet serve` and `berth fleet token create`.
import * as path from "node:path";
import { Command, Option } from "commander";
import { CliError, Io } from "./process";
import { startFleet } from "../fleet/run";
import { FleetSetupError, ROLES, Role } from "../fleet/service";
import { openStore } from "../fleet/store";
import { Engine } from "../fleet/engine";
import { Fleet } from "../fleet/service";

function gates(values: string[] | undefined, off: boolean): Record<string, string> | undefined {
  if (off) return {};
  if (!values?.length) return undefined;
  return Object.fromEntries(
    values.map((v) => {
      const [env, before] = v.split("=");
      if (!env || !before) throw new CliError(`--gate ${v}: write ENV=REQUIRED_ENV, e.g. --gate production=staging`);
      return [env, before];
    }),
  );
}

export function registerFleet(program: Command, io: Io): void {
  const fleet = program
    .command("fleet")
    .description("Deploy many apps from templates: HTTP API, dashboard and job queue.");
  const dataDir = () =>
    new Option("--data-dir <dir>", "records, embedded database, local Pulumi state").default(
      io.env.BERTH_FLEET_DATA || path.join(io.cwd, ".berth-fleet"),
    );
  const database = () =>
    new Option("--database <url>", "PostgreSQL URL shared by several workers (default: embedded store)").default(
      io.env.BERTH_FLEET_DATABASE,
    );

  fleet
    .command("serve")
    .description("Run the API, the dashboard and a worker")
    .addOption(dataDir())
    .addOption(database())
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--port <port>", "port to listen on", (v) => Number(v), 8080)
    .option("--project-dir <dir>", "berth project the stacks run (default: this berth)")
    .option(
      "--pulumi-root <dir>",
      "directory with bin/pulumi (default: pulumi on PATH)",
      io.env.BERTH_FLEET_PULUMI_ROOT,
    )
    .option(
      "--backend-url <url>",
      "Pulumi state of the fleet's stacks (default: file://DATA_DIR/state)",
      io.env.PULUMI_BACKEND_URL,
    )
    .option("--concurrency <n>", "deployments this worker runs at once", (v) => Number(v), 2)
    .option(
      "--gate <env=required>",
      "require a successful deploy to another environment first",
      (v, all: string[]) => [...all, v],
      [],
    )
    .option("--no-gates", "allow production deploys without a staging deploy")
    .option("--health-url <template>", "URL checked after a deploy", "https://{domain}{path}")
    .option("--health-timeout <seconds>", "how long a deploy may take to become healthy", (v) => Number(v), 60)
    .option("--no-worker", "serve the API only; other processes run the deployments")
    .action(async (o) => {
      let running;
      try {
        running = await startFleet({
          dataDir: o.dataDir,
          databaseUrl: o.database,
          host: o.host,
          port: o.port,
          projectDir: o.projectDir,
          pulumiRoot: o.pulumiRoot && path.resolve(io.cwd, o.pulumiRoot),
          backendUrl: o.backendUrl,
          concurrency: o.concurrency,
          gates: gates(o.gate, o.gates === false),
          healthUrl: o.healthUrl,
          healthTimeoutMs: o.healthTimeout * 1000,
          work: o.worker,
          env: Object.fromEntries(Object.entries(io.env).filter((e): e is [string, string] => e[1] !== undefined)),
          log: (l) => io.err(`berth fleet: ${l}\n`),
        });
      } catch (err) {
        if (err instanceof FleetSetupError) throw new CliError(err.message);
        throw err;
      }
      io.out(`berth fleet: dashboard and API on ${running.url} (OpenAPI: ${running.url}/api/openapi.json)\n`);
      if (running.adminToken)
        io.out(
          `berth fleet: first admin token, shown once: ${running.adminToken}\n  open ${running.url}/#token=${running.adminToken}\n`,
        );
      const r = running;
      await new Promise<void>((resolve) => {
        const stop = () => void r.close().then(resolve, resolve);
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });

  const token = fleet.command("token").description("API tokens");
  token
    .command("create")
    .description("Create an API token and print it once")
    .requiredOption("--name <name>", "who or what uses it")
    .addOption(new Option("--role <role>", "what it may do").choices([...ROLES]).default("viewer"))
    .addOption(dataDir())
    .addOption(database())
    .action(async (o) => {
      const store = await openStore({ databaseUrl: o.database, dataDir: path.resolve(o.dataDir) }).catch((err) => {
        throw err instanceof FleetSetupError ? new CliError(err.message) : err;
      });
      try {
        const f = new Fleet({ store, engine: new Engine({ workDir: io.cwd, env: {} }), work: false });
        io.out(`${await f.tokens.create("berth fleet token create", o.name, o.role as Role)}\n`);
      } finally {
        await store.close();
      }
    });
}
