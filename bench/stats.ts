/**
 * Statistics for the benchmarks: percentiles, medians, and how far a
 * benchmark's headline figure could move by chance. Pure: no I/O, no clock;
 * randomness only from the seed given.
 */

/** The p-th percentile (nearest rank) of `xs`; NaN when empty. */
export function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

/** The median of `xs` (the mean of the middle two for an even count); NaN when empty. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** One round of the end-to-end benchmark: each side's per-container latencies. */
export interface RoundLatencies {
  readonly base: readonly number[];
  readonly ours: readonly number[];
}

/** One round's added p50: ours p50 - baseline p50. */
export function roundAddedP50(r: RoundLatencies): number {
  return pct(r.ours, 50) - pct(r.base, 50);
}

/** The end-to-end benchmark's headline: the median over rounds of `roundAddedP50`. */
export function addedP50(rounds: readonly RoundLatencies[]): number {
  return median(rounds.map(roundAddedP50));
}

/** A small seeded generator (mulberry32): the same seed, the same interval. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function resample<T>(xs: readonly T[], rnd: () => number): T[] {
  return Array.from({ length: xs.length }, () => xs[Math.floor(rnd() * xs.length)]!);
}

/**
 * A 95 % interval for `addedP50` by a two-level bootstrap: each iteration
 * draws the rounds with replacement (one phase against the next moves by
 * tens of milliseconds with nothing changed), and within each drawn round
 * both sides' containers with replacement, and computes the headline again.
 * The interval is the 2.5th and 97.5th percentiles of those values. It says
 * how much the figure moves by chance between runs like this one; it does
 * not cover what no round saw (a busier machine on another day).
 */
export function addedP50Interval(
  rounds: readonly RoundLatencies[],
  opts: { readonly iterations?: number; readonly seed?: number } = {},
): { readonly low: number; readonly high: number } {
  if (rounds.length === 0) return { low: NaN, high: NaN };
  const rnd = random(opts.seed ?? 1);
  const values: number[] = [];
  for (let i = 0; i < (opts.iterations ?? 2000); i++) {
    values.push(addedP50(resample(rounds, rnd).map((r) => ({ base: resample(r.base, rnd), ours: resample(r.ours, rnd) }))));
  }
  return { low: pct(values, 2.5), high: pct(values, 97.5) };
}
