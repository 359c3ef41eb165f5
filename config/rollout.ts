// Schema sections for progressive delivery: how a canary version rolls out (berth:rollout), what
// is checked after each switch (berth:verify), and when `pulumi up` may run (berth:deployWindows).
import { z } from "zod";

const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
type Day = (typeof DAYS)[number];

export const rolloutSchema = z
  .strictObject({
    strategy: z
      .enum(["traffic", "hosts"])
      .default("traffic")
      .describe(
        "How berth:canary gets traffic. `traffic`: the canary runs beside the current version as kamal-proxy's rollout target, and `percent` and `allowlist` decide which requests it answers. `hosts`: the hosts in `hosts` run the canary alone, for every role they run, and the others keep the current version.",
      ),
    percent: z
      .number()
      .int()
      .min(0)
      .max(100)
      .optional()
      .describe(
        "strategy traffic: the share of requests sent to the canary, chosen by a hash of their `kamal-rollout` cookie (requests without that cookie always get the current version). Default 0: only the allowlist. `berth rollout set` changes it while the canary runs.",
      ),
    allowlist: z
      .array(
        z
          .string()
          .regex(
            /^[A-Za-z0-9._~@:+-]{1,128}$/,
            "must be a `kamal-rollout` cookie value: letters, digits and . _ ~ @ : + -, at most 128",
          ),
      )
      .optional()
      .describe(
        "strategy traffic: `kamal-rollout` cookie values always sent to the canary (your staff's account ids, say).",
      ),
    hosts: z
      .array(z.string())
      .optional()
      .describe(
        "strategy hosts (required): the hosts that run the canary until it is promoted or aborted. strategy traffic: only these hosts get the canary beside the current version (default: every host of a proxied role).",
      ),
  })
  .describe(
    "How a canary (berth:canary) rolls out. kamal-proxy v0.9.2's `rollout deploy`, `rollout set` and `rollout stop` for strategy traffic; per-host versions for strategy hosts. See docs/deploying.md, Progressive delivery.",
  );

/** A duration of checks, in seconds. */
const seconds = (max: number, fallback: number, what: string) =>
  z.number().int().min(1).max(max).default(fallback).describe(what);

export const verifySchema = z
  .strictObject({
    window: seconds(3600, 30, "Seconds of checks after each switch, before the next boot group starts. Default 30."),
    interval: seconds(600, 5, "Seconds between two rounds of checks. Default 5."),
    timeout: seconds(60, 5, "Seconds each HTTP request may take. Default 5."),
    target: z
      .enum(["route", "container", "both"])
      .default("route")
      .describe(
        "What the checks request: `route` through the host's kamal-proxy with the role's public host name (TLS when the role uses ssl), `container` the app container on the docker network directly (every container the role's route and canary name on the host), or `both`.",
      ),
    path: z
      .string()
      .regex(/^\/[^\s]*$/, "must be a path such as /up")
      .optional()
      .describe("Path requested. Default: the role's health check path."),
    maxFailures: z
      .number()
      .int()
      .min(0)
      .max(1000)
      .default(0)
      .describe("Failed requests tolerated within the window. Default 0: any failure fails the update."),
    command: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Your own check, run on the deploying machine after every switch and its window (say `bin/smoke-test`); a non-zero exit fails the update. It gets the hook variables (BERTH_VERSION, BERTH_HOSTS, ...).",
      ),
    rollback: z
      .boolean()
      .default(false)
      .describe(
        "`berth up` rolls back to the last good update from the stack's history when verification fails, as `berth up --verify` does. `pulumi up` itself only fails.",
      ),
  })
  .describe(
    "Verification after each switch: HTTP checks for a window of time, and optionally your own command; a failure fails the update. See docs/deploying.md, Progressive delivery.",
  );

/** One allowed window: days of the week and a time range in the windows' time zone. */
export interface DeployWindow {
  text: string;
  days: Day[];
  /** Minutes after midnight; `to` may be smaller than `from` (the window runs past midnight). */
  from: number;
  to: number;
}

const DAY_LIST = new RegExp(
  `^(daily|(${DAYS.join("|")})(-(${DAYS.join("|")}))?(,(${DAYS.join("|")})(-(${DAYS.join("|")}))?)*)$`,
);
const TIME = /^([01][0-9]|2[0-3]):([0-5][0-9])$|^24:00$/;

/** `mon-fri 09:00-17:00`, `sat,sun 10:00-12:00`, `daily 22:00-02:00`; undefined when not one. */
export function parseWindow(text: string): DeployWindow | undefined {
  const m = /^(\S+)\s+(\d\d:\d\d)-(\d\d:\d\d)$/.exec(text.trim().toLowerCase());
  if (!m || !DAY_LIST.test(m[1]) || !TIME.test(m[2]) || !TIME.test(m[3])) return undefined;
  const minutes = (t: string) => Number(t.slice(0, 2)) * 60 + Number(t.slice(3));
  const days = new Set<Day>();
  for (const part of m[1] === "daily" ? ["sun-sat"] : m[1].split(",")) {
    const [a, b = a] = part.split("-") as [Day, Day?];
    for (let i = DAYS.indexOf(a); ; i = (i + 1) % 7) {
      days.add(DAYS[i]);
      if (DAYS[i] === b) break;
    }
  }
  const from = minutes(m[2]);
  const to = minutes(m[3]);
  if (from === to) return undefined;
  return { text: text.trim(), days: DAYS.filter((d) => days.has(d)), from, to };
}

function validTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export const deployWindowsSchema = z
  .strictObject({
    timezone: z
      .string()
      .default("UTC")
      .refine(validTimeZone, "must be an IANA time zone such as Europe/Berlin or UTC")
      .describe("Time zone of the windows (IANA name). Default UTC."),
    allow: z
      .array(
        z
          .string()
          .refine(
            (w) => parseWindow(w) !== undefined,
            "must be days and a time range such as `mon-fri 09:00-17:00`, `sat,sun 10:00-12:00` or `daily 22:00-02:00` (a range past midnight belongs to the day it starts)",
          ),
      )
      .min(1, "list at least one window, such as `mon-thu 09:00-16:00`")
      .describe(
        "When `pulumi up` may run: days (mon..sun, ranges and lists, or daily) and a time range. Outside all of them `pulumi up` stops before changing anything; `pulumi preview` always runs.",
      ),
    force: z
      .boolean()
      .default(false)
      .describe(
        "Let `pulumi up` run outside the windows (an emergency). For one run only, set the environment variable BERTH_FORCE_DEPLOY=1 instead (`berth up --force` does).",
      ),
  })
  .describe(
    "Maintenance windows: `pulumi up` runs only inside them unless forced. Scheduling the run itself is your CI's job.",
  );

export type RolloutInput = z.output<typeof rolloutSchema>;
export type VerifyConfig = z.output<typeof verifySchema>;
export type DeployWindowsConfig = z.output<typeof deployWindowsSchema>;

/** A canary as components receive it. */
export interface Canary {
  version: string;
  strategy: "traffic" | "hosts";
  percent: number;
  allowlist: string[];
  /** strategy hosts: the canary's hosts; strategy traffic: hosts to limit it to, empty for all. */
  hosts: string[];
}

export function canaryOf(version: string | undefined, rollout: RolloutInput | undefined): Canary | undefined {
  if (version === undefined) return undefined;
  return {
    version,
    strategy: rollout?.strategy ?? "traffic",
    percent: rollout?.percent ?? 0,
    allowlist: rollout?.allowlist ?? [],
    hosts: rollout?.hosts ?? [],
  };
}

/** What the cross-checks need of a stack. */
export interface RolloutStack {
  version?: string;
  canary?: string;
  rollout?: RolloutInput;
  builder?: unknown;
  hosts: Record<string, unknown>;
  /** Role -> its hosts and whether it is proxied. */
  roles: Record<string, { hosts: string[]; proxied: boolean }>;
}

/** Rules of berth:canary and berth:rollout that span keys; each problem with its path. */
export function rolloutProblems(cfg: RolloutStack): { path: (string | number)[]; message: string }[] {
  const out: { path: (string | number)[]; message: string }[] = [];
  const r = cfg.rollout;
  if (r) {
    (r.hosts ?? []).forEach((h, i) => {
      if (!cfg.hosts[h])
        out.push({ path: ["rollout", "hosts", i], message: `unknown host "${h}"; define it under berth:hosts` });
    });
    if (r.strategy === "hosts") {
      for (const key of ["percent", "allowlist"] as const)
        if (r[key] !== undefined)
          out.push({
            path: ["rollout", key],
            message: "is for strategy traffic; strategy hosts sends a host's whole traffic to the canary",
          });
      if (!r.hosts?.length)
        out.push({ path: ["rollout", "hosts"], message: "required for strategy hosts: the hosts that run the canary" });
    }
  }
  if (cfg.canary === undefined) return out;
  const canary = canaryOf(cfg.canary, r)!;
  if (cfg.canary === cfg.version)
    out.push({
      path: ["canary"],
      message: `is the version deployed (berth:version); name another version, or remove berth:canary`,
    });
  if (cfg.builder !== undefined)
    out.push({
      path: ["canary"],
      message:
        "berth:builder builds one version per run; push the canary's image from CI and name its tag here, or remove berth:builder",
    });
  const chosen = new Set(canary.hosts);
  if (canary.strategy === "hosts") {
    for (const [role, def] of Object.entries(cfg.roles)) {
      if (def.hosts.length > 0 && def.hosts.every((h) => chosen.has(h)))
        out.push({
          path: ["rollout", "hosts"],
          message: `names every host of role ${role}: a host canary keeps at least one host of each role on the current version (for a single host, use strategy traffic)`,
        });
    }
    const running = new Set(Object.values(cfg.roles).flatMap((d) => d.hosts));
    canary.hosts.forEach((h, i) => {
      if (cfg.hosts[h] && !running.has(h))
        out.push({ path: ["rollout", "hosts", i], message: `host ${h} runs no role, so it cannot run the canary` });
    });
    return out;
  }
  const proxied = Object.values(cfg.roles).filter((d) => d.proxied);
  if (proxied.length === 0)
    out.push({
      path: ["canary"],
      message:
        "strategy traffic needs a role behind kamal-proxy; without one, set berth:rollout.strategy: hosts and name the canary's hosts",
    });
  const proxiedHosts = new Set(proxied.flatMap((d) => d.hosts));
  canary.hosts.forEach((h, i) => {
    if (cfg.hosts[h] && !proxiedHosts.has(h))
      out.push({ path: ["rollout", "hosts", i], message: `host ${h} runs no role behind kamal-proxy` });
  });
  return out;
}

const WEEKDAY: Record<string, Day> = {
  Sun: "sun",
  Mon: "mon",
  Tue: "tue",
  Wed: "wed",
  Thu: "thu",
  Fri: "fri",
  Sat: "sat",
};

const formats = new Map<string, Intl.DateTimeFormat>();

/** Day and minute of `now` in `zone`. */
function localTime(now: Date, zone: string): { day: Day; minute: number; text: string } {
  let format = formats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    formats.set(zone, format);
  }
  const parts = Object.fromEntries(format.formatToParts(now).map((p) => [p.type, p.value]));
  const minute = Number(parts.hour) * 60 + Number(parts.minute);
  return { day: WEEKDAY[parts.weekday], minute, text: `${parts.weekday} ${parts.hour}:${parts.minute} ${zone}` };
}

/** Whether a window is open at a local day and minute (a window past midnight runs into the next day). */
function open(w: DeployWindow, day: Day, minute: number): boolean {
  if (w.from < w.to) return w.days.includes(day) && minute >= w.from && minute < w.to;
  const yesterday = DAYS[(DAYS.indexOf(day) + 6) % 7];
  return (w.days.includes(day) && minute >= w.from) || (w.days.includes(yesterday) && minute < w.to);
}

/**
 * Why `pulumi up` may not run at `now`, or undefined when a window is open. The message says when,
 * which windows there are, when the next opens, and how to force a run.
 */
export function outsideWindows(cfg: DeployWindowsConfig, now: Date): string | undefined {
  const windows = cfg.allow.map((w) => parseWindow(w)!);
  const here = localTime(now, cfg.timezone);
  if (windows.some((w) => open(w, here.day, here.minute))) return undefined;
  // The next opening: the first minute, in steps of one minute over a week, at which one is open.
  let next: string | undefined;
  for (let step = 1; step <= 7 * 24 * 60 && !next; step++) {
    const t = new Date(now.getTime() + step * 60_000);
    const local = localTime(t, cfg.timezone);
    if (windows.some((w) => open(w, local.day, local.minute))) next = local.text;
  }
  return [
    `berth:deployWindows: pulumi up refused at ${here.text}, outside the allowed windows (${cfg.allow.join(", ")}).`,
    next ? `The next window opens ${next}.` : "",
    "To deploy now anyway, run it with BERTH_FORCE_DEPLOY=1 (berth up --force), or set berth:deployWindows.force: true. `pulumi preview` is never refused.",
  ]
    .filter(Boolean)
    .join(" ");
}

/**
 * Why this run may not change anything: a `pulumi up` (not a preview) outside every allowed window,
 * neither forced by the stack setting nor by BERTH_FORCE_DEPLOY=1 for one run. Undefined: go on.
 */
export function deployRefusal(
  windows: DeployWindowsConfig | undefined,
  run: { preview: boolean; env: NodeJS.ProcessEnv; now: Date },
): string | undefined {
  if (!windows || run.preview || windows.force || run.env.BERTH_FORCE_DEPLOY === "1") return undefined;
  return outsideWindows(windows, run.now);
}
