/**
 * `npm run bench`: runs every benchmark, prints one table, writes JSON under
 * bench/results/. `npm run bench -- replay placement` runs only those named;
 * `census` (a diagnostic: messages and CPU per container) runs only when named.
 * `--quick` runs reduced sizes (for a smoke test, not for the README).
 *
 * The machine is shared and has 2 cores: benchmarks report ratios against a
 * baseline measured in the same run wherever one exists.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchResult, Progress } from './types.js';

type Bench = (opts: { quick: boolean; progress: Progress }) => Promise<BenchResult | BenchResult[]>;

const BENCHES: Record<string, () => Promise<Bench>> = {
  replay: async () => (await import('./replay.js')).benchReplay,
  placement: async () => {
    const m = await import('./placement.js');
    return ({ quick, progress }) =>
      m.benchPlacement(quick ? { hosts: 500, containers: 5_000, log: progress } : { log: progress }) as Promise<BenchResult>;
  },
  e2e: async () => (await import('./e2e.js')).benchEndToEnd,
  gateway: async () => (await import('./gateway.js')).benchGateway,
  // A diagnostic (message and CPU census per container), only when named.
  census: async () => (await import('./census.js')).benchCensus,
};
/** What `npm run bench` runs when no name is given. */
const DEFAULT_BENCHES = ['replay', 'placement', 'e2e', 'gateway'];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const wanted = args.filter((a) => !a.startsWith('--'));
  const names = wanted.length ? wanted : DEFAULT_BENCHES;
  const results: BenchResult[] = [];
  const failed: string[] = [];
  for (const name of names) {
    const load = BENCHES[name];
    if (!load) throw new Error(`unknown benchmark "${name}"; known: ${Object.keys(BENCHES).join(', ')}`);
    const progress: Progress = (msg) => process.stderr.write(`[${new Date().toISOString()}] ${name}: ${msg}\n`);
    progress('starting');
    try {
      const r = await (await load())({ quick, progress });
      results.push(...(Array.isArray(r) ? r : [r]));
    } catch (e) {
      failed.push(name);
      progress(`FAILED: ${e instanceof Error ? e.stack : String(e)}`);
    }
  }
  const rows: string[][] = [['benchmark', 'metric', 'value', 'target']];
  for (const r of results) {
    for (const [metric, value] of Object.entries(r.metrics)) {
      const t = r.targets?.find((x) => x.metric === metric);
      const ok = t ? (t.op === '>=' ? value >= t.value : value <= t.value) : undefined;
      rows.push([r.name, metric, fmt(value), t ? `${t.op} ${fmt(t.value)} ${ok ? 'met' : 'MISSED'}` : '']);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  '));
  for (const r of results) if (r.notes) console.log(`\n${r.name}: ${r.notes}`);
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), quick, node: process.version, results, failed }, null, 2));
  console.log(`\nwritten ${file}`);
  if (failed.length) {
    console.error(`failed: ${failed.join(', ')}`);
    process.exitCode = 1;
  }
}

function fmt(v: number): string {
  return Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(Math.round(v * 100) / 100);
}

await main();
