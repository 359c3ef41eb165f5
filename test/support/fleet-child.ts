// A fleet service in its own process, for tests that kill a worker: `node --import tsx
// test/support/fleet-child.ts DIR HEALTH_URL [DATABASE_URL]` prints one JSON line {url, token,
// worker} once it serves. Its deployments run in this very process, so killing it kills their worker.
import { startTestFleet } from "./fleet";

const [dir, health, database] = process.argv.slice(2);
startTestFleet(dir, health, {
  databaseUrl: database || undefined,
  inProcessWorker: true,
  env: { BERTH_FAKE_SLOW_MS: process.env.BERTH_FAKE_SLOW_MS ?? "400" },
}).then(
  (f) => {
    process.stdout.write(JSON.stringify({ url: f.url, token: f.adminToken, worker: f.workerId }) + "\n");
    const stop = () => void f.close().then(() => process.exit(0));
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  },
  (err) => {
    process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  },
);
