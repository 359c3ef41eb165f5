// The embedded store's database (PGlite) and its unix-socket server, in a worker thread: PGlite
// runs queries as WebAssembly on the thread that owns it, so on the main thread every query would
// hold up the HTTP API. Started by store.ts with { dataDir, socket }.
"use strict";
const path = require("node:path");
const { parentPort, workerData } = require("node:worker_threads");
const { PGlite } = require("@electric-sql/pglite");
const { PGLiteSocketServer } = require("@electric-sql/pglite-socket");

(async () => {
  const db = await PGlite.create(path.join(workerData.dataDir, "db"));
  const server = new PGLiteSocketServer({ db, path: workerData.socket, maxConnections: 64 });
  await server.start();
  parentPort.on("message", async (message) => {
    if (message !== "close") return;
    await server.stop();
    await db.close();
    parentPort.postMessage("closed");
  });
  parentPort.postMessage("ready");
})().catch((err) => parentPort.postMessage({ error: String((err && err.stack) || err) }));
