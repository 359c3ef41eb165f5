// A deployment as the fleet hands it on: its record, with ids as numbers and how long it ran.
export type Deployment = ReturnType<typeof present>;

export function present(row: Record<string, any>) {
  const started = row.started_at ? new Date(row.started_at).getTime() : undefined;
  const finished = row.finished_at ? new Date(row.finished_at).getTime() : undefined;
  return {
    ...row,
    id: Number(row.id),
    rollback_of: row.rollback_of === null || row.rollback_of === undefined ? null : Number(row.rollback_of),
    variables: (row.variables ?? {}) as Record<string, unknown>,
    config: (row.config ?? {}) as Record<string, unknown>,
    duration_ms: started && finished ? finished - started : null,
  } as unknown as Record<string, any> & {
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
