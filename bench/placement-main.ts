/**
 * Runs the placement benchmark alone:
 *   npx tsx bench/placement-main.ts [--hosts 5000] [--containers 50000] [--weigher spread|pack]
 */
import { isWeigher } from '../domain/placement.js';
import { benchPlacement } from './placement.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const hosts = Number(arg('hosts') ?? 5_000);
const containers = Number(arg('containers') ?? 50_000);
const weigher = arg('weigher') ?? 'spread';
if (!Number.isInteger(hosts) || hosts < 1 || !Number.isInteger(containers) || containers < 1 || !isWeigher(weigher)) {
  console.error('usage: tsx bench/placement-main.ts [--hosts N] [--containers N] [--weigher spread|pack]');
  process.exit(2);
}
const r = await benchPlacement({ hosts, containers, weigher, log: (m) => process.stderr.write(`[${new Date().toISOString()}] ${m}\n`) });
for (const [k, v] of Object.entries(r.metrics)) console.log(`${k.padEnd(22)} ${Math.round(v * 100) / 100}`);
for (const t of r.targets ?? []) {
  const v = r.metrics[t.metric]!;
  console.log(`target ${t.metric} ${t.op} ${t.value}: ${(t.op === '>=' ? v >= t.value : v <= t.value) ? 'met' : 'MISSED'}`);
}
if (r.notes) console.log(r.notes);
process.exit(0);
