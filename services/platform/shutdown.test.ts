import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { onShutdownSignals } from './shutdown.js';

const silent = pino({ level: 'silent' });

function setup(stop: () => Promise<void>, timeoutMs?: number) {
  const handlers = new Map<string, () => void>();
  const exits: number[] = [];
  let stops = 0;
  const shutdown = onShutdownSignals({
    log: silent,
    stop: () => (stops++, stop()),
    on: (signal, h) => handlers.set(signal, h),
    exit: (code) => void exits.push(code),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
  });
  return { handlers, exits, shutdown, stops: () => stops };
}

describe('onShutdownSignals', () => {
  it('stops once on SIGTERM or SIGINT and exits 0; a second signal changes nothing', async () => {
    const t = setup(async () => {});
    expect([...t.handlers.keys()].sort()).toEqual(['SIGINT', 'SIGTERM']);
    await Promise.all([t.shutdown('SIGTERM'), t.shutdown('SIGINT')]);
    expect([t.stops(), t.exits]).toEqual([1, [0]]);
  });

  it('exits 1 when stopping fails', async () => {
    const t = setup(async () => {
      throw new Error('drain failed');
    });
    await t.shutdown('SIGTERM');
    expect(t.exits).toEqual([1]);
  });

  it('exits 1 when stopping hangs past the timeout', async () => {
    const t = setup(() => new Promise<void>(() => {}), 20);
    await t.shutdown('SIGINT');
    expect(t.exits).toEqual([1]);
  });
});
