/**
 * Runs tasks one at a time per key, in arrival order, within this process.
 *
 * For writers that fence on a shared aggregate (a project's quota, a ledger):
 * the fence keeps separate processes correct, and this lock keeps one busy
 * process from racing itself into retry storms on that fence.
 */
export function createKeyedLock() {
  const tails = new Map<string, Promise<unknown>>();
  return async function withLock<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = tails.get(key) ?? Promise.resolve();
    const run = previous.then(task, task);
    const tail = run.catch(() => undefined);
    tails.set(key, tail);
    try {
      return await run;
    } finally {
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}
