/**
 * Progress on long work, always on stderr (stdout is for results):
 * - `bar`: a redrawn bar, for a terminal (or --progress);
 * - `lines`: a plain line every `everyMs`, for logs and pipes;
 * - `off`: nothing (--quiet).
 */
export type ProgressMode = 'bar' | 'lines' | 'off';

export interface ProgressSink {
  write(text: string): unknown;
}

export interface Progress {
  /** `done` items of `total` (total may grow, or be unknown: 0). */
  update(done: number, total?: number): void;
  /** Final line (bar mode) or summary line (lines mode); `count` overrides the items reported. */
  finish(note?: string, count?: number): void;
}

export function chooseMode(opts: { isTTY: boolean; progress: boolean; quiet: boolean }): ProgressMode {
  if (opts.quiet) return 'off';
  return opts.isTTY || opts.progress ? 'bar' : 'lines';
}

export function createProgress(opts: {
  label: string;
  unit?: string;
  mode: ProgressMode;
  sink: ProgressSink;
  total?: number;
  now?: () => number;
  everyMs?: number;
  width?: number;
}): Progress {
  const now = opts.now ?? (() => performance.now());
  const unit = opts.unit ?? 'events';
  const started = now();
  const every = opts.everyMs ?? (opts.mode === 'bar' ? 100 : 5_000);
  let last = -Infinity;
  let total = opts.total ?? 0;
  let done = 0;
  let drawn = false;

  const rate = () => {
    const s = (now() - started) / 1000;
    return s > 0 ? done / s : 0;
  };
  const fmtRate = (r: number) => (r >= 10_000 ? `${(r / 1000).toFixed(0)}k` : r >= 1000 ? `${(r / 1000).toFixed(1)}k` : r.toFixed(0));

  function line(): string {
    const r = rate();
    if (total > 0) {
      const pct = Math.min(100, (done / total) * 100);
      const eta = r > 0 ? Math.max(0, (total - done) / r) : 0;
      if (opts.mode === 'bar') {
        const w = opts.width ?? 24;
        const fill = Math.round((pct / 100) * w);
        return `${opts.label} [${'#'.repeat(fill)}${'-'.repeat(w - fill)}] ${pct.toFixed(0).padStart(3)}% ${done}/${total} ${unit} ${fmtRate(r)}/s ETA ${eta.toFixed(0)}s`;
      }
      return `${opts.label}: ${done}/${total} ${unit} (${pct.toFixed(0)}%), ${fmtRate(r)} ${unit}/s`;
    }
    return `${opts.label}: ${done} ${unit}, ${fmtRate(r)} ${unit}/s`;
  }

  return {
    update(d, t) {
      done = d;
      if (t !== undefined) total = t;
      if (opts.mode === 'off') return;
      const n = now();
      if (n - last < every) return;
      last = n;
      if (opts.mode === 'bar') {
        opts.sink.write(`\r${line()}\x1b[K`);
        drawn = true;
      } else if (n - started >= every) {
        opts.sink.write(`${line()}\n`);
      }
    },
    finish(note, count) {
      if (opts.mode === 'off') return;
      if (count !== undefined) done = count;
      const secs = ((now() - started) / 1000).toFixed(2);
      const tail = `${opts.label}: ${done} ${unit} in ${secs}s (${fmtRate(rate())}/s)${note ? `; ${note}` : ''}`;
      if (opts.mode === 'bar') opts.sink.write(`${drawn ? '\r' : ''}${tail}\x1b[K\n`);
      else opts.sink.write(`${tail}\n`);
    },
  };
}
