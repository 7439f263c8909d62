import { describe, expect, it } from 'vitest';
import { addedP50, addedP50Interval, median, pct, type RoundLatencies } from './stats.js';

/** n latencies spread evenly around `center` (+-spread). */
const spread = (n: number, center: number, spreadMs: number) => Array.from({ length: n }, (_, i) => center - spreadMs + (2 * spreadMs * i) / (n - 1));

describe('bench statistics', () => {
  it('pct is the nearest rank and median the middle', () => {
    expect(pct([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(pct([1, 2, 3, 4], 99)).toBe(4);
    expect(pct([], 50)).toBeNaN();
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('addedP50 is the median over rounds of the p50 difference', () => {
    const rounds: RoundLatencies[] = [10, 50, 90].map((d) => ({ base: spread(101, 1000, 200), ours: spread(101, 1000 + d, 200) }));
    expect(addedP50(rounds)).toBeCloseTo(50, 6);
  });

  it('the interval holds the figure, is reproducible, and widens with round-to-round spread', () => {
    const steady: RoundLatencies[] = [48, 50, 52, 49, 51].map((d) => ({ base: spread(100, 1000, 50), ours: spread(100, 1000 + d, 50) }));
    const noisy: RoundLatencies[] = [-40, 130, 50, 90, 10].map((d) => ({ base: spread(100, 1000, 50), ours: spread(100, 1000 + d, 50) }));
    const a = addedP50Interval(steady, { iterations: 500 });
    const b = addedP50Interval(noisy, { iterations: 500 });
    expect(a.low).toBeLessThanOrEqual(addedP50(steady));
    expect(a.high).toBeGreaterThanOrEqual(addedP50(steady));
    expect(addedP50Interval(steady, { iterations: 500 })).toEqual(a);
    expect(b.high - b.low).toBeGreaterThan(2 * (a.high - a.low));
    expect(b.low).toBeLessThan(50);
    expect(b.high).toBeGreaterThan(50);
  });

  it('no rounds: no interval', () => {
    expect(addedP50Interval([])).toEqual({ low: NaN, high: NaN });
  });
});
