import { describe, expect, it } from 'vitest';
import { createKeyedLock } from './keyed-lock.js';

describe('keyed lock', () => {
  it('runs tasks of one key one at a time, in order, and other keys alongside', async () => {
    const withLock = createKeyedLock();
    const log: string[] = [];
    let inside = 0;
    let most = 0;
    const task = (key: string, i: number, ms: number) =>
      withLock(key, async () => {
        inside++;
        most = Math.max(most, inside);
        log.push(`${key}${i}+`);
        await new Promise((r) => setTimeout(r, ms));
        log.push(`${key}${i}-`);
        inside--;
        return i;
      });
    const results = await Promise.all([task('a', 1, 20), task('a', 2, 1), task('a', 3, 1)]);
    expect(results).toEqual([1, 2, 3]);
    expect(log).toEqual(['a1+', 'a1-', 'a2+', 'a2-', 'a3+', 'a3-']);
    expect(most).toBe(1);
    most = 0;
    await Promise.all([task('b', 1, 20), task('c', 1, 20)]);
    expect(most).toBe(2);
  });

  it('a failing task does not block the next one', async () => {
    const withLock = createKeyedLock();
    await expect(withLock('k', async () => { throw new Error('boom'); })).rejects.toThrow('boom');
    await expect(withLock('k', async () => 7)).resolves.toBe(7);
  });
});
