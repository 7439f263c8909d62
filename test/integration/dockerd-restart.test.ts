/**
 * The system across a restart of dockerd, the server the host actor depends
 * on: the real services as processes, their own nats-server and etcd, and
 * the machine's dockerd, restarted through scripts/servers.sh. Only a dockerd
 * the project's scripts started can be restarted here; with any other the
 * test is skipped (it says why).
 *
 * dockerd runs without live-restore, so its restart stops every container:
 * the log must say Stopped, a new container must run, the stopped one must
 * start again, and one with restart policy `always` must run again by itself.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../support/cluster.js';
import { printServiceLogsOnFailure } from '../support/failure-logs.js';
import { dockerAvailable } from '../support/servers.js';
import { zunApi } from '../support/zun-api.js';

const REPO = join(import.meta.dirname, '..', '..');
const servers = (...args: string[]) => execFileSync('bash', [join(REPO, 'scripts', 'servers.sh'), ...args], { encoding: 'utf8' });

let cluster: Cluster;
printServiceLogsOnFailure(() => cluster);
let ours = false;
const { api, until, run } = zunApi(() => cluster.gatewayUrl);

beforeAll(async () => {
  if (!(await dockerAvailable())) servers('start', 'dockerd');
  execFileSync('bash', [join(REPO, 'scripts', 'base-image.sh')], { stdio: 'inherit' });
  // "dockerd  answering  (started by us, pid N)"; not "... (not started by us)".
  ours = /\(started by us, pid \d+\)/.test(servers('status', 'dockerd'));
  cluster = await startCluster({ hosts: ['rs-host'], hostEnv: { RESYNC_SECONDS: '3' } });
  await cluster.ready();
});

afterAll(async () => {
  await cluster?.stop();
});

describe('a dockerd restart', () => {
  it('is observed (Stopped), new containers run at once, stopped ones start again, and restart policies restart', async (ctx) => {
    if (!ours) ctx.skip(); // not ours to restart: the skip is reported
    const before = await run({ name: 'rs-before' });
    // Restart policy always: the host actor starts it again once dockerd is back (its exit may meet
    // dockerd's shutdown, whose refusal of the restart is not an Error).
    const always = await run({ name: 'rs-always', restart_policy: { Name: 'always' } });
    await until(before, 'Running');
    await until(always, 'Running');

    servers('stop', 'dockerd');
    servers('start', 'dockerd');

    await until(before, 'Stopped');
    await until(always, 'Running', 'containers', 60_000);
    const after = await run({ name: 'rs-after' });
    await until(after, 'Running', 'containers', 30_000);
    expect((await api('POST', `/v1/containers/${before}/start`)).status).toBe(202);
    await until(before, 'Running', 'containers', 30_000);
    const actor = cluster.services.get('host-actor:rs-host')!;
    expect(actor.exited()).toBe(false);
    expect(actor.output()).toContain('docker event stream lost; resubscribing');
  });
});
