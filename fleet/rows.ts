// A deployment as the fleet hands it on: its record, with ids as numbers and how long it ran.
export type Deployment = ReturnType<typeof present>;

export function present(row: Record<string, unknown>) {
  // PostgreSQL hands timestamps back as Date, PGlite and JSON as text: both read as a time.
  const time = (v: unknown) =>
    v instanceof Date || typeof v === "string" || typeof v === "number" ? new Date(v).getTime() : undefined;
  const started = time(row.started_at);
  const finished = time(row.finished_at);
  return {
    ...row,
    id: Number(row.id),
    rollback_of: row.rollback_of === null || row.rollback_of === undefined ? null : Number(row.rollback_of),
    variables: (row.variables ?? {}) as Record<string, unknown>,
    config: (row.config ?? {}) as Record<string, unknown>,
    duration_ms: started && finished ? finished - started : null,
  } as unknown as Record<string, unknown> & {
    id: number;
    stack: string;
    app: string;
    environment: string;
    template: string;
    kind: string;
    version: string;
    image: string;
    status: string;
    actor: string;
    servers: string[];
    rollback_of: number | null;
    variables: Record<string, unknown>;
    config: Record<string, unknown>;
  };
}
