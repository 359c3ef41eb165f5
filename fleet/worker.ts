// The process that runs deployments. `berth fleet serve` starts one beside its HTTP API, so the
// API's event loop never waits for what running the engine costs (starting `pulumi` processes,
// engine events): status queries stay fast while deployments run. It reaches the same store (an
// embedded store through its socket) and stops, cancelling updates in flight, when asked.
import { Engine, EngineOptions } from "./engine";
import { Fleet, FleetOptions } from "./service";
import { openStore } from "./store";

export interface WorkerConfig {
  connectionString: string;
  embedded: boolean;
  dataDir: string;
  engine: EngineOptions;
  fleet: Omit<FleetOptions, "store" | "engine" | "log" | "work">;
}

async function main(config: WorkerConfig) {
  const store = await openStore({
    databaseUrl: config.connectionString,
    dataDir: config.dataDir,
    embeddedUrl: config.embedded,
  });
  const fleet = new Fleet({
    ...config.fleet,
    store,
    engine: new Engine(config.engine),
    work: true,
    log: (line) => process.stderr.write(`berth fleet worker: ${line}\n`),
  });
  await fleet.start();
  process.send!({ ready: fleet.workerId });
  const stop = async () => {
    await fleet.stop();
    await store.close();
    process.exit(0);
  };
  process.on("message", (m) => m === "stop" && void stop());
  process.on("disconnect", () => void stop());
}

process.once("message", (config: WorkerConfig) =>
  main(config).catch((err) => {
    process.send!({ error: String(err?.stack ?? err) });
    process.exit(1);
  }),
);
