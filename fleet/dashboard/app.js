// Longer than 400 lines: one plain script served as is, with no build step; its four views share the page helpers at its top.
// The fleet dashboard: servers, a deployment from a template, live progress with cancel, and
// history with rollback. Plain DOM, no build step; every call goes to the HTTP API with the token.
"use strict";

const main = document.getElementById("main");
let stopStream = () => {};

// A token arrives once in the address (#token=...), then lives in this browser's storage.
const fromHash = /^#token=(.+)$/.exec(location.hash);
if (fromHash) {
  localStorage.setItem("berth-fleet-token", decodeURIComponent(fromHash[1]));
  history.replaceState(null, "", "#/servers");
}
const token = () => localStorage.getItem("berth-fleet-token") || "";

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) el.append(c instanceof Node ? c : String(c));
  return el;
}

async function api(method, route, body) {
  const res = await fetch(route, {
    method,
    headers: { authorization: `Bearer ${token()}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : undefined;
  if (!res.ok)
    throw Object.assign(new Error(data?.error || res.statusText), {
      problems: data?.problems || [],
      status: res.status,
    });
  return data;
}

const status = (s) => h("span", { class: `status ${s}`, "data-status": s }, s.replace("_", " "));
const when = (t) => (t ? new Date(t).toLocaleString() : "");
const seconds = (ms) => (ms === null || ms === undefined ? "" : `${(ms / 1000).toFixed(1)} s`);
const problems = (err) =>
  h(
    "ul",
    { class: "problems", id: "problems" },
    (err.problems.length ? err.problems : [err.message]).map((p) => h("li", {}, p)),
  );

function page(title, ...sections) {
  main.replaceChildren(h("h1", {}, title), ...sections);
}

function tokenForm(message) {
  const input = h("input", { id: "token", type: "password", placeholder: "bft_..." });
  page(
    "Sign in",
    h(
      "section",
      {},
      h("p", {}, message),
      h("label", { for: "token" }, "API token"),
      input,
      h(
        "button",
        { onclick: () => (localStorage.setItem("berth-fleet-token", input.value.trim()), route()) },
        "Use token",
      ),
    ),
  );
}

// ---------------------------------------------------------------- servers

async function serversView() {
  const servers = await api("GET", "/api/servers");
  const rows = servers.map((s) =>
    h(
      "tr",
      { "data-server": s.name },
      h("td", {}, s.name),
      h("td", {}, s.kind === "existing" ? "existing" : "Hetzner"),
      h(
        "td",
        {},
        s.kind === "existing"
          ? s.address
          : `${s.server_type} in ${s.location}${s.deployed?.ipv4 ? ` · ${s.deployed.ipv4}` : ""}${s.replace ? ` · replace: ${s.replace}` : ""}`,
      ),
      h("td", {}, `${s.ssh_user}@:${s.ssh_port}`),
      h(
        "td",
        {},
        s.maintenance_window ? `${s.maintenance_window.cron} (${s.maintenance_window.durationMinutes} min)` : "",
      ),
      h("td", {}, h("a", { href: `#/history?server=${encodeURIComponent(s.name)}` }, `${s.deployments} deployments`)),
    ),
  );
  const f = {
    name: h("input", { id: "server-name", placeholder: "web-1" }),
    kind: h(
      "select",
      { id: "server-kind" },
      h("option", { value: "existing" }, "Existing machine"),
      h("option", { value: "hetzner" }, "Hetzner Cloud server"),
    ),
    address: h("input", { id: "server-address", placeholder: "203.0.113.10" }),
    hostKeys: h("textarea", {
      id: "server-host-keys",
      rows: 2,
      placeholder: "203.0.113.10 ssh-ed25519 AAAA... (what ssh-keyscan -t ed25519 ADDRESS prints)",
    }),
    serverType: h("input", { id: "server-type", placeholder: "cx23" }),
    location: h("input", { id: "server-location", placeholder: "fsn1" }),
    hetznerKeyName: h("input", { id: "server-key-name", placeholder: "deploy" }),
    sshPublicKey: h("input", { id: "server-key", placeholder: "ssh-ed25519 AAAA... you@example.com" }),
    cron: h("input", { id: "server-window", placeholder: "0 2 * * 0 (optional, UTC)" }),
  };
  const out = h("div", {});
  const register = async () => {
    const body = { name: f.name.value.trim(), kind: f.kind.value, sshPublicKey: f.sshPublicKey.value.trim() };
    if (body.kind === "existing")
      Object.assign(body, {
        address: f.address.value.trim(),
        hostKeys: f.hostKeys.value
          .split("\n")
          .map((l) => l.trim())
          .filter((l) => l && !l.startsWith("#")),
      });
    else
      Object.assign(body, {
        serverType: f.serverType.value.trim(),
        location: f.location.value.trim(),
        hetznerKeyName: f.hetznerKeyName.value.trim(),
      });
    if (f.cron.value.trim()) body.maintenanceWindow = { cron: f.cron.value.trim(), durationMinutes: 120 };
    try {
      await api("POST", "/api/servers", body);
      route();
    } catch (err) {
      out.replaceChildren(problems(err));
    }
  };
  page(
    "Servers",
    h(
      "section",
      {},
      servers.length
        ? h(
            "table",
            { id: "servers" },
            h(
              "tr",
              {},
              ["Name", "Kind", "Where", "SSH", "Maintenance window", "History"].map((t) => h("th", {}, t)),
            ),
            rows,
          )
        : h("p", { id: "no-servers" }, "No servers yet: register one below."),
    ),
    h(
      "section",
      {},
      h("h2", {}, "Register a server"),
      ...Object.entries({
        Name: f.name,
        Kind: f.kind,
        "Address (existing)": f.address,
        "Host keys (existing; one a line, from ssh-keyscan -t ed25519 ADDRESS)": f.hostKeys,
        "Server type (Hetzner)": f.serverType,
        "Location (Hetzner)": f.location,
        "SSH key name in the Hetzner project (Hetzner)": f.hetznerKeyName,
        "SSH public key": f.sshPublicKey,
        "Maintenance window": f.cron,
      }).map(([label, el]) => [h("label", { for: el.id }, label), el]),
      h("button", { id: "register", onclick: register }, "Register server"),
      out,
    ),
  );
}

// ---------------------------------------------------------------- new deployment

async function deployView() {
  const [templates, servers] = await Promise.all([api("GET", "/api/templates"), api("GET", "/api/servers")]);
  const form = h("div", {});
  const out = h("div", {});
  const template = h(
    "select",
    { id: "template" },
    templates.map((t) => h("option", { value: t.name }, t.title)),
  );
  const app = h("input", { id: "app", placeholder: "shop" });
  const environment = h("input", { id: "environment", value: "staging" });
  const boxes = servers.map((s, i) =>
    h("input", { type: "checkbox", value: s.name, id: `use-${s.name}`, checked: i === 0 }),
  );
  const schedule = h("input", { id: "scheduled", type: "datetime-local" });
  let fields = {};
  let secretFields = {};

  const renderFields = () => {
    const t = templates.find((x) => x.name === template.value);
    const props = t.variables.properties || {};
    fields = {};
    for (const [name, schema] of Object.entries(props)) {
      if (schema.type === "boolean")
        fields[name] = h("input", { type: "checkbox", id: `var-${name}`, checked: schema.default === true });
      else if (schema.type === "object" && name === "env")
        fields[name] = h("textarea", { id: `var-${name}`, rows: 3, placeholder: "KEY=value, one a line" });
      else if (schema.type === "array")
        fields[name] = h("input", { id: `var-${name}`, placeholder: "NAME, OTHER_NAME" });
      else if (schema.type === "object") continue;
      else
        fields[name] = h("input", {
          id: `var-${name}`,
          type: schema.type === "integer" || schema.type === "number" ? "number" : "text",
          value: schema.default,
        });
    }
    secretFields = {};
    for (const name of t.requiredSecrets)
      secretFields[name] = h("input", { id: `secret-${name}`, type: "password", autocomplete: "off" });
    form.replaceChildren(
      ...[
        h("p", {}, t.description),
        ...Object.entries(fields).map(([name, el]) => [
          h("label", { for: el.id }, `${name}${(t.variables.required || []).includes(name) ? " *" : ""}`),
          el,
          props[name].description ? h("small", {}, props[name].description) : null,
        ]),
        h("h2", {}, "Secrets"),
        h(
          "p",
          {},
          "Stored only as Pulumi secrets of the app's stack; leave empty to keep the value the stack already has.",
        ),
        ...Object.entries(secretFields).map(([name, el]) => [h("label", { for: el.id }, name), el]),
      ]
        .flat()
        .filter(Boolean),
    );
  };
  template.addEventListener("change", renderFields);
  renderFields();

  const submit = async () => {
    const variables = {};
    for (const [name, el] of Object.entries(fields)) {
      if (el.type === "checkbox") variables[name] = el.checked;
      else if (el.tagName === "TEXTAREA")
        variables[name] = Object.fromEntries(
          el.value
            .split("\n")
            .filter((l) => l.includes("="))
            .map((l) => [l.slice(0, l.indexOf("=")).trim(), l.slice(l.indexOf("=") + 1).trim()]),
        );
      else if (el.id.startsWith("var-") && el.placeholder === "NAME, OTHER_NAME")
        variables[name] = el.value
          .split(",")
          .map((x) => x.trim())
          .filter(Boolean);
      else if (el.value !== "") variables[name] = el.type === "number" ? Number(el.value) : el.value.trim();
    }
    const secrets = Object.fromEntries(
      Object.entries(secretFields)
        .filter(([, el]) => el.value)
        .map(([n, el]) => [n, el.value]),
    );
    const body = {
      app: app.value.trim(),
      environment: environment.value.trim(),
      template: template.value,
      servers: boxes.filter((b) => b.checked).map((b) => b.value),
      variables,
      ...(Object.keys(secrets).length ? { secrets } : {}),
      ...(schedule.value ? { scheduledAt: new Date(schedule.value).toISOString() } : {}),
    };
    try {
      const d = await api("POST", "/api/deployments", body);
      location.hash = `#/deployments/${d.id}`;
    } catch (err) {
      out.replaceChildren(problems(err));
    }
  };
  page(
    "New deployment",
    h(
      "section",
      {},
      h("label", { for: "template" }, "Template"),
      template,
      h("label", { for: "app" }, "App"),
      app,
      h("label", { for: "environment" }, "Environment"),
      environment,
      h("label", {}, "Servers"),
      servers.length ? boxes.map((b) => h("div", {}, b, " ", b.value)) : h("p", {}, "Register a server first."),
      form,
      h("label", { for: "scheduled" }, "Start at (optional)"),
      schedule,
      h("div", {}, h("button", { id: "deploy", onclick: submit }, "Deploy")),
      out,
    ),
  );
}

// ---------------------------------------------------------------- one deployment, live

async function deploymentView(id) {
  const log = h("div", { id: "log" });
  const head = h("div", { id: "summary" });
  const actions = h("div", { id: "actions" });
  const keys = h("div", {});
  const progress = h("span", { id: "progress" });
  const out = h("div", {});
  let steps = 0;
  page(
    `Deployment ${id}`,
    h("section", {}, head, progress, actions, keys, out),
    h("section", {}, h("h2", {}, "Progress"), log),
  );

  const show = async () => {
    const d = await api("GET", `/api/deployments/${id}`);
    head.replaceChildren(
      h(
        "p",
        {},
        h("strong", {}, `${d.app} / ${d.environment}`),
        ` version ${d.version} `,
        status(d.status),
        ` ${d.kind.replace("_", " ")} by ${d.actor}`,
      ),
      h(
        "p",
        {},
        `servers ${d.servers.join(", ")} · created ${when(d.created_at)}${d.duration_ms ? ` · took ${seconds(d.duration_ms)}` : ""}`,
      ),
      d.error ? h("p", { class: "problems", id: "error" }, d.error) : "",
    );
    // What the stack verifies its hosts with, from its outputs: lines for ~/.ssh/known_hosts.
    if (d.outputs?.knownHosts && !keys.firstChild)
      keys.replaceChildren(
        h(
          "details",
          { id: "known-hosts" },
          h("summary", {}, "Host keys (known_hosts lines)"),
          h("pre", {}, d.outputs.knownHosts),
        ),
      );
    const buttons = [];
    if (["pending", "deploying"].includes(d.status))
      buttons.push(
        h(
          "button",
          { id: "cancel", class: "danger", onclick: () => act(`/api/deployments/${id}/cancel`) },
          "Cancel deployment",
        ),
      );
    if (d.healthy_at)
      buttons.push(
        h(
          "button",
          { id: "rollback", onclick: () => act(`/api/deployments/${id}/rollback`, true) },
          `Roll back to ${d.version}`,
        ),
      );
    actions.replaceChildren(...buttons);
    return d;
  };
  const act = async (route, follow) => {
    try {
      const d = await api("POST", route);
      if (follow) location.hash = `#/deployments/${d.id}`;
      else await show();
    } catch (err) {
      out.replaceChildren(problems(err));
    }
  };
  await show();

  // Live progress: the API's server-sent events, read with fetch so the token stays in a header.
  const controller = new AbortController();
  stopStream = () => controller.abort();
  try {
    const res = await fetch(`/api/deployments/${id}/stream`, {
      headers: { authorization: `Bearer ${token()}` },
      signal: controller.signal,
    });
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const chunk = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const type = /^event: (.*)$/m.exec(chunk)?.[1];
        const data = JSON.parse(/^data: (.*)$/m.exec(chunk)?.[1] || "null");
        if (type === "event") {
          if (data.kind === "step-done") steps++;
          if (data.kind !== "step-done")
            log.append(h("div", { class: data.kind }, `${new Date(data.at).toLocaleTimeString()}  ${data.message}`));
          log.scrollTop = log.scrollHeight;
          progress.textContent = `${steps} resource steps done`;
        } else if (type === "status") await show();
      }
    }
  } catch (err) {
    if (err.name !== "AbortError") out.replaceChildren(problems(err));
  }
  await show();
}

// ---------------------------------------------------------------- history

async function historyView(params) {
  const query = new URLSearchParams(params);
  const list = await api("GET", `/api/deployments?${query}`);
  const filter = [...query.entries()].map(([k, v]) => `${k} ${v}`).join(", ");
  page(
    filter ? `History: ${filter}` : "History",
    h(
      "section",
      {},
      list.length
        ? h(
            "table",
            { id: "history" },
            h(
              "tr",
              {},
              ["#", "App", "Environment", "Version", "Status", "Kind", "Who", "When", "Duration"].map((t) =>
                h("th", {}, t),
              ),
            ),
            list.map((d) =>
              h(
                "tr",
                { "data-id": d.id },
                h("td", {}, h("a", { href: `#/deployments/${d.id}` }, d.id)),
                h("td", {}, h("a", { href: `#/history?app=${encodeURIComponent(d.app)}` }, d.app)),
                h("td", {}, d.environment),
                h("td", {}, d.version),
                h("td", {}, status(d.status)),
                h("td", {}, d.kind.replace("_", " ")),
                h("td", {}, d.actor),
                h("td", {}, when(d.created_at)),
                h("td", {}, seconds(d.duration_ms)),
              ),
            ),
          )
        : h("p", {}, "No deployments yet."),
    ),
  );
}

// ---------------------------------------------------------------- routing

async function route() {
  stopStream();
  if (!token())
    return tokenForm("Paste the token `berth fleet serve` printed, or one from `berth fleet token create`.");
  const [path, params] = (location.hash.slice(1) || "/servers").split("?");
  for (const a of document.querySelectorAll("nav a"))
    a.classList.toggle("active", a.getAttribute("href") === `#${path}`);
  try {
    const me = await api("GET", "/api/me");
    document.getElementById("who").textContent = `${me.name} (${me.role})`;
    const m = /^\/deployments\/(\d+)$/.exec(path);
    if (m) return await deploymentView(Number(m[1]));
    if (path === "/deploy") return await deployView();
    if (path === "/history") return await historyView(params || "");
    return await serversView();
  } catch (err) {
    if (err.status === 401) return tokenForm("That token was not accepted.");
    main.replaceChildren(problems(err));
  }
}

window.addEventListener("hashchange", route);
route();
