// The Hetzner Cloud server types a new server can be ordered as. A retired type fails at
// `pulumi up` after every earlier step succeeded, so berth refuses it while reading config.
//
// Source: Hetzner Cloud changelog 2025-10-16 ("server types deprecated": CX Gen 2 and CPX Gen 1
// leave the API at the end of 2025) and terraform-provider-hcloud#1233, which moved its docs from
// cx22 to cx23. `hcloud server-type list` (Hetzner's CLI) prints what a project can order today;
// when Hetzner adds a type, it is one line here.
import { closest } from "./closest";

/** Current types by family: shared vCPU (CX Intel/AMD, CPX AMD, CAX Arm) and dedicated (CCX). */
export const SERVER_TYPES = [
  "cx23",
  "cx33",
  "cx43",
  "cx53",
  "cpx12",
  "cpx22",
  "cpx32",
  "cpx42",
  "cpx52",
  "cpx62",
  "cax11",
  "cax21",
  "cax31",
  "cax41",
  "ccx13",
  "ccx23",
  "ccx33",
  "ccx43",
  "ccx53",
  "ccx63",
] as const;

/** Retired types and their nearest current successor (same family, same or larger size). */
export const RETIRED_SERVER_TYPES: Record<string, (typeof SERVER_TYPES)[number]> = {
  cx11: "cx23",
  cx21: "cx23",
  cx31: "cx33",
  cx41: "cx43",
  cx51: "cx53",
  cx22: "cx23",
  cx32: "cx33",
  cx42: "cx43",
  cx52: "cx53",
  cpx11: "cpx12",
  cpx21: "cpx22",
  cpx31: "cpx32",
  cpx41: "cpx42",
  cpx51: "cpx52",
  ccx11: "ccx13",
  ccx21: "ccx23",
  ccx31: "ccx33",
  ccx41: "ccx43",
  ccx51: "ccx53",
  ccx12: "ccx13",
  ccx22: "ccx23",
  ccx32: "ccx33",
  ccx42: "ccx43",
  ccx52: "ccx53",
  ccx62: "ccx63",
};

export const LIST_SERVER_TYPES = "`hcloud server-type list` shows the types your project can order";

/** Why `type` cannot be ordered, or undefined when it can. */
export function serverTypeProblem(type: string): string | undefined {
  if ((SERVER_TYPES as readonly string[]).includes(type)) return undefined;
  if (type.trim() === "") return `must name a Hetzner server type such as cx23 (${LIST_SERVER_TYPES})`;
  const successor = RETIRED_SERVER_TYPES[type];
  if (successor) return `${type} was retired by Hetzner and can no longer be ordered: use ${successor}`;
  const near = closest(type, [...SERVER_TYPES]);
  // An empty or blank value is quoted, so the message still reads "path: value ...".
  const shown = /^\S+$/.test(type) ? type : JSON.stringify(type);
  return `${shown} is not a Hetzner Cloud server type${near ? `; did you mean ${near}?` : "."} Current types: ${SERVER_TYPES.join(", ")} (${LIST_SERVER_TYPES})`;
}
