import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bufferedDestination, createLogger } from './log.js';

function harness(o: { maxBytes?: number; write?: (data: Buffer) => number } = {}) {
  const writes: string[] = [];
  const timers: (() => void)[] = [];
  const dest = bufferedDestination(-1, {
    ...o,
    write:
      o.write ??
      ((data) => {
        writes.push(data.toString());
        return data.length;
      }),
    setTimer: (fn) => {
      timers.push(fn);
      return {};
    },
    clearTimer: () => {},
  });
  return { dest, writes, fireTimer: () => timers.shift()?.() };
}

describe('bufferedDestination', () => {
  it('writes the lines of a spell together, once the delay is over', () => {
    const { dest, writes, fireTimer } = harness();
    const log = createLogger('t', 'info', dest);
    log.info('one');
    log.info('two');
    expect(writes).toEqual([]);
    fireTimer();
    expect(writes).toHaveLength(1);
    expect(writes[0]!.split('\n').filter(Boolean).map((l) => JSON.parse(l).msg)).toEqual(['one', 'two']);
  });

  it('writes at once when enough is buffered', () => {
    const { dest, writes } = harness({ maxBytes: 200 });
    const log = createLogger('t', 'info', dest);
    log.info('a');
    expect(writes).toHaveLength(0);
    log.info('x'.repeat(200));
    expect(writes).toHaveLength(1);
    expect(writes[0]!.split('\n').filter(Boolean)).toHaveLength(2);
  });

  it('writes a warning or an error at once, after what was buffered before it', () => {
    const { dest, writes } = harness();
    const log = createLogger('t', 'info', dest);
    log.info('before');
    log.warn('careful');
    expect(writes).toHaveLength(1);
    expect(writes[0]!.split('\n').filter(Boolean).map((l) => JSON.parse(l).msg)).toEqual(['before', 'careful']);
    log.error('bad');
    expect(writes).toHaveLength(2);
  });

  it('finishes a partial write', () => {
    const out: string[] = [];
    const { dest } = harness({
      write: (data) => {
        const n = Math.min(7, data.length);
        out.push(data.subarray(0, n).toString());
        return n;
      },
    });
    dest.write('{"level":30,"msg":"a partial write"}\n');
    dest.flush();
    expect(out.join('')).toBe('{"level":30,"msg":"a partial write"}\n');
    expect(out.length).toBeGreaterThan(1);
  });

  it('stops writing, without throwing, once its reader is gone', () => {
    let calls = 0;
    const { dest } = harness({
      write: () => {
        calls++;
        throw Object.assign(new Error('EPIPE'), { code: 'EPIPE' });
      },
    });
    dest.write('{"level":50,"msg":"x"}\n');
    dest.write('{"level":50,"msg":"y"}\n');
    expect(calls).toBe(1);
  });

  it("loses no line of a process that exits, by process.exit or an uncaught exception", () => {
    const logModule = join(import.meta.dirname, 'log.ts');
    for (const ending of ['process.exit(3)', 'throw new Error("boom")']) {
      const script = `import { createLogger } from ${JSON.stringify(logModule)};
        const log = createLogger('t');
        for (let i = 0; i < 5; i++) log.info({ i }, 'line');
        setTimeout(() => { ${ending}; }, 10);`;
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
      const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { i: number });
      expect(lines.map((l) => l.i), `${ending}: ${r.stderr}`).toEqual([0, 1, 2, 3, 4]);
    }
  });
});
