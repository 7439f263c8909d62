/** Small helpers the benchmarks share: environment numbers, keep-alive HTTP, a concurrent runner. */
import http from 'node:http';

/** A whole number from the environment (at least `min`), or `dflt`. */
export function envInt(name: string, dflt: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be a whole number >= ${min}, not ${raw}`);
  return v;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One JSON POST over a keep-alive agent. */
export function post(agent: http.Agent, url: string, headers: Record<string, string>, body: unknown): Promise<{ status: number; body: string }> {
  return request(agent, 'POST', url, headers, JSON.stringify(body));
}

/** One request over a keep-alive agent. */
export function request(agent: http.Agent, method: string, url: string, headers: Record<string, string>, data = ''): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: { ...headers, 'Content-Length': Buffer.byteLength(data) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** Runs `job(0..n-1)`, `concurrency` at a time; each job's latency and the total wall time, in ms. */
export async function runConcurrent(n: number, concurrency: number, job: (i: number) => Promise<unknown>) {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const s = performance.now();
        await job(i);
        latencies.push(performance.now() - s);
      }
    }),
  );
  return { latencies, totalMs: performance.now() - t0 };
}
