/** What every benchmark returns to the runner. */
export interface BenchResult {
  readonly name: string;
  /** Metric name → value; names carry their unit (e.g. `events_per_s`, `p50_ms`). */
  readonly metrics: Record<string, number>;
  /** Targets the issue set, checked and printed by the runner. */
  readonly targets?: readonly { metric: string; op: '>=' | '<='; value: number }[];
  readonly notes?: string;
}

export type Progress = (msg: string) => void;
