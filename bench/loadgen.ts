/**
 * A small closed-loop HTTP load generator (no dependencies): `connections`
 * keep-alive sockets, each with one request in flight at a time, for a fixed
 * duration after a warm-up. Latency is from write to the last body byte.
 */
import http from 'node:http';

export interface LoadOptions {
  readonly url: string;
  /** Path per request (e.g. a random container each time). */
  readonly path: () => string;
  readonly headers?: Record<string, string>;
  readonly connections: number;
  readonly durationMs: number;
  readonly warmupMs?: number;
}

export interface LoadResult {
  readonly requests: number;
  readonly errors: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Mean response body size. */
  readonly bytes: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const base = new URL(o.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections });
  const once = (path: string) =>
    new Promise<{ status: number; bytes: number }>((resolve, reject) => {
      const req = http.request(
        { host: base.hostname, port: base.port, path, method: 'GET', agent, headers: o.headers },
        (res) => {
          let bytes = 0;
          res.on('data', (b: Buffer) => (bytes += b.length));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });

  const warmupEnd = performance.now() + (o.warmupMs ?? 1_000);
  const end = warmupEnd + o.durationMs;
  const latencies: number[] = [];
  let errors = 0;
  let bytes = 0;
  await Promise.all(
    Array.from({ length: o.connections }, async () => {
      for (;;) {
        const t0 = performance.now();
        if (t0 >= end) return;
        try {
          const r = await once(o.path());
          const t1 = performance.now();
          if (t0 < warmupEnd) continue;
          if (r.status !== 200) errors++;
          latencies.push(t1 - t0);
          bytes += r.bytes;
        } catch {
          if (t0 >= warmupEnd) errors++;
        }
      }
    }),
  );
  agent.destroy();
  const sorted = latencies.sort((a, b) => a - b);
  return {
    requests: sorted.length,
    errors,
    rps: sorted.length / (o.durationMs / 1000),
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.at(-1) ?? NaN,
    bytes: sorted.length ? bytes / sorted.length : 0,
  };
}
