// `tsx scripts/bench/monitor.ts [stack]`: the bench's stand-in engine (plan/monitor.ts) alone; it
// prints its address and serves until killed, so a whole-process timer can time the launcher alone.
import { startMonitor } from "../../plan/monitor";

startMonitor({ project: "berth", stack: process.argv[2] ?? "production" }).then((m) => {
  console.log(m.address);
});
