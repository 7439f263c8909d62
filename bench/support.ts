/** Small helpers the benchmarks share: environment numbers, keep-alive HTTP, a concurrent runner, /proc counters. */
import { readFileSync } from 'node:fs';
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

/** A process's counters so far, from /proc (Linux). */
export interface ProcStats {
  readonly userMs: number;
  readonly sysMs: number;
  readonly syscr: number;
  readonly syscw: number;
  readonly wakeups: number;
  readonly preemptions: number;
}

/** `pid`'s counters (its main thread's for the context switches); null when it is gone or unreadable. */
export function procStats(pid: number): ProcStats | null {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const main = readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8');
    const num = (text: string, re: RegExp) => Number(text.match(re)?.[1] ?? NaN);
    return {
      userMs: Number(f[11]) * 10, // USER_HZ is 100 on Linux
      sysMs: Number(f[12]) * 10,
      syscr: num(io, /syscr: (\d+)/),
      syscw: num(io, /syscw: (\d+)/),
      wakeups: num(main, /\nvoluntary_ctxt_switches:\s+(\d+)/),
      preemptions: num(main, /nonvoluntary_ctxt_switches:\s+(\d+)/),
    };
  } catch {
    return null;
  }
}
