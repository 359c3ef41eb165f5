// Maintenance windows: a cron expression in UTC and how long the window stays open.
import { CronExpressionParser } from "cron-parser";
import { z } from "zod";

export interface MaintenanceWindow {
  cron: string;
  durationMinutes: number;
}

export const maintenanceWindowSchema = z
  .strictObject({
    cron: z.string().min(1).describe("When the window opens, as a cron expression in UTC, e.g. `0 2 * * 0`."),
    durationMinutes: z.number().int().min(1).max(1440).describe("How long the window stays open."),
  })
  .superRefine((w, ctx) => {
    try {
      CronExpressionParser.parse(w.cron, { tz: "UTC" });
    } catch {
      ctx.addIssue({
        code: "custom",
        path: ["cron"],
        message: "is not a cron expression such as `0 2 * * 0` (Sundays 02:00 UTC)",
      });
    }
  });

export function nextWindowStart(w: { cron: string }, after: Date): Date {
  return CronExpressionParser.parse(w.cron, { tz: "UTC", currentDate: after }).next().toDate();
}

export function previousWindowStart(w: { cron: string }, at: Date): Date | undefined {
  try {
    return CronExpressionParser.parse(w.cron, { tz: "UTC", currentDate: new Date(at.getTime() + 1000) })
      .prev()
      .toDate();
  } catch {
    return undefined;
  }
}
