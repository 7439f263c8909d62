import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createDockerWatchdog, type DockerWatchdog } from './docker-watchdog.js';

const silent = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = async (what: string, ok: () => boolean, ms = 2_000) => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(5);
  }
};

/** A probe under the test's control: 'ok' answers at once, 'fail' fails at once, 'hang' waits until released. */
function controlledProbe() {
  let mode: 'ok' | 'fail' | 'hang' = 'ok';
  let probes = 0;
  let pending: { reject: (e: Error) => void; resolve: () => void }[] = [];
  return {
    set: (m: typeof mode) => (mode = m),
    probes: () => probes,
    /** Settles the hung probes: with an error (dockerd restarted under them), or an answer. */
    release: (how: 'error' | 'answer') => {
      for (const p of pending.splice(0)) (how === 'error' ? p.reject(new Error('socket hang up')) : p.resolve());
    },
    probe: () => {
      probes++;
      if (mode === 'ok') return Promise.resolve();
      if (mode === 'fail') return Promise.reject(new Error('connect ENOENT /var/run/docker.sock'));
      return new Promise<void>((resolve, reject) => pending.push({ resolve, reject }));
    },
    reset: () => (pending = []),
  };
}

let dog: DockerWatchdog | undefined;

/** A started watchdog over `p`, recording its hooks in `calls` (onHung: given, or recorded as 'hung'). */
function watch(p: ReturnType<typeof controlledProbe>, hungAfterMs: number, calls: string[], onHung?: () => Promise<void>): DockerWatchdog {
  dog = createDockerWatchdog({
    probe: p.probe, everyMs: 10, hungAfterMs, log: silent,
    onHung: onHung ?? (async () => void calls.push('hung')),
    onRecovered: async () => void calls.push('recovered'),
  });
  dog.start();
  return dog;
}
afterEach(async () => {
  await dog?.stop();
  dog = undefined;
});

describe('the Docker watchdog', () => {
  it('withdraws the host once when a probe hangs, sends no other meanwhile, and restores it on the first answer after', async () => {
    const p = controlledProbe();
    const calls: string[] = [];
    dog = watch(p, 80, calls);
    await until('probes answered', () => p.probes() >= 3);
    expect(calls).toEqual([]);
    p.set('hang');
    await until('hung', () => dog!.hung());
    const probesWhileHung = p.probes();
    await sleep(100);
    expect(p.probes()).toBe(probesWhileHung); // one unanswered probe at a time
    expect(calls).toEqual(['hung']);
    // The hung call fails (dockerd killed under it): that alone is not a recovery, and the next probe hangs again.
    p.release('error');
    await until('a new probe', () => p.probes() > probesWhileHung);
    await sleep(100);
    expect(dog.hung()).toBe(true);
    expect(calls).toEqual(['hung']);
    // dockerd restarted: the hung call fails, the next probe is answered.
    const before = p.probes();
    p.set('ok');
    p.release('error');
    await until('a new probe', () => p.probes() > before);
    await until('recovered', () => !dog!.hung());
    await sleep(20);
    expect(calls).toEqual(['hung', 'recovered']);
  });

  it('takes a probe that fails at once (dockerd down) for an answer, not a hang', async () => {
    const p = controlledProbe();
    const calls: string[] = [];
    p.set('fail');
    dog = watch(p, 50, calls);
    await until('probes', () => p.probes() >= 15);
    expect(dog.hung()).toBe(false);
    expect(calls).toEqual([]);
  });

  it('runs the hooks one after the other and stop() waits for the one running', async () => {
    const p = controlledProbe();
    const calls: string[] = [];
    let finishHung!: () => void;
    dog = watch(p, 40, calls, () => new Promise<void>((r) => (finishHung = () => { calls.push('hung done'); r(); })));
    p.set('hang');
    await until('hung', () => dog!.hung());
    p.set('ok');
    p.release('answer'); // Docker answers while the host is still being withdrawn
    await until('recovered flag', () => !dog!.hung());
    await sleep(30);
    expect(calls).toEqual([]); // recovered waits for the withdrawal to finish
    const stopped = dog.stop();
    let done = false;
    void stopped.then(() => (done = true));
    await sleep(20);
    expect(done).toBe(false);
    finishHung();
    await stopped;
    expect(calls).toEqual(['hung done', 'recovered']);
  });
});
