/**
 * For integration tests that run the system as child processes: when a test
 * fails, the tail of every service's output goes to stderr, so that a
 * failure seen once (in CI, say) can be read afterwards instead of guessed at.
 */
import { beforeEach } from 'vitest';
import type { Cluster } from './cluster.js';

/** Registers, for every test of the file, a dump of each service's last `lines` lines if the test fails. */
export function printServiceLogsOnFailure(cluster: () => Cluster | undefined, lines = 150): void {
  beforeEach((ctx) => {
    ctx.onTestFailed(() => {
      const c = cluster();
      if (!c) return;
      for (const [name, svc] of c.services) {
        const tail = svc.output().trimEnd().split('\n').slice(-lines).join('\n');
        process.stderr.write(`\n----- ${name} (${ctx.task.name}): its last ${lines} lines -----\n${tail}\n`);
      }
    });
  });
}
