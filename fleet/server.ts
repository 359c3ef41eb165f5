// The fleet's HTTP API (fastify, request schemas in zod, OpenAPI from the same schemas at
// /api/openapi.json) and the dashboard's static files. Every route but /api/health, the
// OpenAPI document and the dashboard's files needs a token; roles: viewer < deployer < admin.
import * as fs from "node:fs";
import * as path from "node:path";
import swagger from "@fastify/swagger";
import Fastify, { FastifyReply, FastifyRequest } from "fastify";
import { jsonSchemaTransform, serializerCompiler, ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";
import { parseRequest } from "./problems";
import {
  Actor,
  deployInputSchema,
  Fleet,
  Role,
  ROLES,
  serverInputSchema,
  serverUpdateSchema,
  STATUSES,
} from "./service";
import { InputError, TEMPLATES } from "./templates";

const RANK: Record<Role, number> = { viewer: 0, deployer: 1, admin: 2 };
const DASHBOARD = path.join(__dirname, "dashboard");
const ASSETS: Record<string, string> = {
  "/": "index.html",
  "/app.js": "app.js",
  "/style.css": "style.css",
};
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};

declare module "fastify" {
  interface FastifyRequest {
    actor?: Actor;
  }
}

const idParams = z.object({ id: z.coerce.number().int().positive() });

export async function buildServer(fleet: Fleet) {
  const app = Fastify({ logger: false, bodyLimit: 1_000_000 }).withTypeProvider<ZodTypeProvider>();
  // Requests are checked by their zod schemas, and problems said in the API's words (problems.ts):
  // `field: what is wrong`, the body's fields bare, others under query. or params.
  app.setValidatorCompiler(({ schema, httpPart }) => (data) => {
    const parsed = parseRequest(
      schema as z.ZodType,
      data,
      httpPart === "body" ? "" : httpPart === "querystring" ? "query" : String(httpPart),
    );
    return parsed.problems ? { error: new InputError(parsed.problems) } : { value: parsed.value };
  });
  app.setSerializerCompiler(serializerCompiler);
  await app.register(swagger, {
    openapi: {
      info: {
        title: "berth fleet",
        description: "Deploy apps from templates to registered servers, one berth stack per app and environment.",
        version: "1",
      },
      components: { securitySchemes: { token: { type: "http", scheme: "bearer" } } },
      security: [{ token: [] }],
    },
    transform: jsonSchemaTransform,
  });

  app.setErrorHandler((err: any, _req, reply) => {
    if (err instanceof InputError)
      return reply.code(err.status).send({ error: "invalid request", problems: err.problems });
    const status = typeof err.statusCode === "number" && err.statusCode < 500 ? err.statusCode : 500;
    return reply.code(status).send({ error: status === 500 ? "internal error" : String(err.message) });
  });

  const need = (role: Role) => async (req: FastifyRequest, reply: FastifyReply) => {
    const header = req.headers.authorization ?? "";
    const token = header.startsWith("Bearer ") ? header.slice(7).trim() : undefined;
    const actor = await fleet.authenticate(token);
    if (!actor)
      return reply.code(401).send({
        error: "unauthorized",
        problems: ["Authorization: send `Bearer <token>`; create one with `berth fleet token create`"],
      });
    if (RANK[actor.role] < RANK[role])
      return reply
        .code(403)
        .send({ error: "forbidden", problems: [`role ${actor.role} cannot do this; it needs ${role}`] });
    req.actor = actor;
  };

  for (const [route, file] of Object.entries(ASSETS)) {
    app.get(route, { schema: { hide: true } }, async (_req, reply) =>
      reply.type(TYPES[path.extname(file)]).send(fs.readFileSync(path.join(DASHBOARD, file))),
    );
  }
  app.get("/api/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  app.get("/api/health", { schema: { summary: "Liveness", security: [] } }, async () => ({ ok: true }));

  app.get(
    "/api/me",
    { preHandler: need("viewer"), schema: { summary: "Who the token belongs to" } },
    async (req) => req.actor,
  );

  app.get(
    "/api/templates",
    { preHandler: need("viewer"), schema: { summary: "Deployment templates and their variables" } },
    async () =>
      Object.values(TEMPLATES).map((t) => ({
        name: t.name,
        title: t.title,
        description: t.description,
        healthPath: t.healthPath ?? null,
        variables: z.toJSONSchema(t.variables, { io: "input", unrepresentable: "any" }),
        requiredSecrets: t.requiredSecrets(t.variables.parse({ image: "x", version: "x" })),
      })),
  );

  app.get("/api/servers", { preHandler: need("viewer"), schema: { summary: "Registered servers" } }, async () =>
    fleet.listServers(),
  );
  app.post(
    "/api/servers",
    { preHandler: need("admin"), schema: { summary: "Register a server", body: serverInputSchema } },
    async (req, reply) => reply.code(201).send(await fleet.registerServer(req.actor!, req.body)),
  );
  app.patch(
    "/api/servers/:name",
    {
      preHandler: need("admin"),
      schema: {
        summary: "Change a server's host keys, replacement or maintenance window",
        params: z.object({ name: z.string() }),
        body: serverUpdateSchema,
      },
    },
    async (req) => fleet.updateServer(req.actor!, req.params.name, req.body),
  );
  app.delete(
    "/api/servers/:name",
    {
      preHandler: need("admin"),
      schema: { summary: "Remove a server (kept in the records)", params: z.object({ name: z.string() }) },
    },
    async (req, reply) => {
      await fleet.removeServer(req.actor!, req.params.name);
      return reply.code(204).send();
    },
  );

  app.get(
    "/api/deployments",
    {
      preHandler: need("viewer"),
      schema: {
        summary: "Deployment history, newest first",
        querystring: z.object({
          server: z.string().optional(),
          app: z.string().optional(),
          environment: z.string().optional(),
          status: z.enum(STATUSES).optional(),
          limit: z.coerce.number().int().min(1).max(500).optional(),
        }),
      },
    },
    async (req) => fleet.listDeployments(req.query),
  );
  app.post(
    "/api/deployments",
    { preHandler: need("deployer"), schema: { summary: "Deploy an app from a template", body: deployInputSchema } },
    async (req, reply) => reply.code(201).send(await fleet.submit(req.actor!, req.body)),
  );
  app.get(
    "/api/deployments/:id",
    { preHandler: need("viewer"), schema: { summary: "One deployment", params: idParams } },
    async (req, reply) => {
      const d = await fleet.getDeployment(req.params.id);
      return d
        ? d
        : reply.code(404).send({ error: "not found", problems: [`deployment ${req.params.id} does not exist`] });
    },
  );
  app.get(
    "/api/deployments/:id/events",
    {
      preHandler: need("viewer"),
      schema: {
        summary: "A deployment's events (engine steps, host log lines, status changes)",
        params: idParams,
        querystring: z.object({ after: z.coerce.number().int().min(0).optional() }),
      },
    },
    async (req) => fleet.events(req.params.id, req.query.after ?? 0),
  );
  app.get(
    "/api/deployments/:id/stream",
    {
      preHandler: need("viewer"),
      schema: { summary: "Live progress as server-sent events (status and event)", params: idParams },
    },
    async (req, reply) => {
      const id = req.params.id;
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-store",
        connection: "keep-alive",
      });
      let after = 0;
      let lastStatus = "";
      let closed = false;
      req.raw.on("close", () => (closed = true));
      while (!closed) {
        const d = await fleet.getDeployment(id);
        if (!d) break;
        for (const e of await fleet.events(id, after)) {
          res.write(`event: event\ndata: ${JSON.stringify(e)}\n\n`);
          after = e.id;
        }
        const summary = JSON.stringify({ id: d.id, status: d.status, error: d.error, duration_ms: d.duration_ms });
        if (summary !== lastStatus) res.write(`event: status\ndata: ${summary}\n\n`);
        lastStatus = summary;
        if (!["pending", "deploying"].includes(d.status)) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      res.end();
    },
  );
  app.post(
    "/api/deployments/:id/cancel",
    { preHandler: need("deployer"), schema: { summary: "Cancel a pending or running deployment", params: idParams } },
    async (req, reply) => {
      await fleet.cancel(req.actor!, req.params.id);
      return reply.code(202).send(await fleet.getDeployment(req.params.id));
    },
  );
  app.post(
    "/api/deployments/:id/rollback",
    { preHandler: need("deployer"), schema: { summary: "Roll the stack back to this deployment", params: idParams } },
    async (req, reply) => reply.code(201).send(await fleet.rollback(req.actor!, req.params.id)),
  );
  app.delete(
    "/api/deployments/:id",
    {
      preHandler: need("admin"),
      schema: { summary: "Hide a finished deployment (kept in the records)", params: idParams },
    },
    async (req, reply) => {
      await fleet.removeDeployment(req.actor!, req.params.id);
      return reply.code(204).send();
    },
  );

  app.get(
    "/api/audit",
    { preHandler: need("admin"), schema: { summary: "Every action with its actor, newest first" } },
    async () => fleet.listAudit(),
  );
  app.get(
    "/api/tokens",
    { preHandler: need("admin"), schema: { summary: "API tokens (never their values)" } },
    async () => fleet.listTokens(),
  );
  app.post(
    "/api/tokens",
    {
      preHandler: need("admin"),
      schema: {
        summary: "Create a token; its value is shown once",
        body: z.strictObject({ name: z.string().min(1), role: z.enum(ROLES) }),
      },
    },
    async (req, reply) =>
      reply.code(201).send({ token: await fleet.createToken(req.actor!, req.body.name, req.body.role) }),
  );
  app.delete(
    "/api/tokens/:id",
    { preHandler: need("admin"), schema: { summary: "Revoke a token", params: idParams } },
    async (req, reply) => {
      await fleet.revokeToken(req.actor!, req.params.id);
      return reply.code(204).send();
    },
  );
  return app;
}
