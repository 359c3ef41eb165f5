import { tempProject, healthServer, startTestFleet, Client, server, railsDeploy, settle } from "./test/fleet-support";
async function main() {
  const dir = tempProject(); const h = await healthServer();
  const t0 = Date.now();
  const f = await startTestFleet(dir, h.url, { log: (l) => console.log("LOG", l) });
  console.log("started", Date.now() - t0, f.url);
  const c = new Client(f.url, f.adminToken);
  console.log((await c.post("/api/servers", server("web-1", "203.0.113.10"))).status);
  const r = await c.post("/api/deployments", railsDeploy("shop", "staging", "v1"));
  console.log(r.status, JSON.stringify(r.body).slice(0, 300));
  const d = await settle(c, Number(r.body.id), undefined, 20000).catch(async (e) => { console.log("settle", e.message); console.log(JSON.stringify((await c.get("/api/deployments/1/events")).body)); throw e; });
  console.log(d.status, d.error, Date.now() - t0);
  const ev = await c.get(`/api/deployments/${d.id}/events`);
  console.log(ev.body.length, ev.body.slice(0, 3).map((e: any) => e.message), ev.body.slice(-3).map((e: any) => e.message));
  await f.close(); await h.close();
}
main().catch((e) => { console.error("ERR", e); process.exit(1); });
