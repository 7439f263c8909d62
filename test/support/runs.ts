/**
 * How many cases a property test tries: `base` times PROPERTY_RUNS_FACTOR
 * (default 1). The suite's own counts stay modest so that CI is quick; a
 * stress run (`npm run test:stress`: ten times as many, with new seeds every
 * time) explores much further, and is how the rare interleavings and inputs
 * are found (a racing resize, a port named `valueOf`). Checks with a fixed
 * seed, which must find their counterexample, keep their own counts.
 */
const raw = process.env['PROPERTY_RUNS_FACTOR'];
const factor = raw === undefined || raw === '' ? 1 : Number(raw);
if (!Number.isFinite(factor) || factor <= 0) throw new Error(`PROPERTY_RUNS_FACTOR must be a positive number, not ${raw}`);

export const runs = (base: number): number => Math.max(1, Math.round(base * factor));
