/**
 * The cinder volume driver exercised THROUGH THE HOST ACTOR: the real
 * services as processes (gateway in noauth mode, projector, placement, one
 * host actor with VOLUME_DRIVER=cinder), their own nats-server and etcd, the
 * real dockerd, driven through Zun's REST API.
 *
 * Cinder does not run here: its API is a loopback stub answering with
 * RECORDED responses (test/fixtures/cinder, test/support/cinder-stub.ts),
 * whose connection info (type `local`, as an LVM backend on the same host
 * reports it) points at a loop device this test sets up. Everything the host
 * actor does after the API calls is real: blkid, mkfs.ext4 on first use, the
 * mount, the bind mount into the container, umount on delete.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, waitFor, type Cluster } from '../support/cluster.js';
import { printServiceLogsOnFailure } from '../support/failure-logs.js';
import { startCinderStub } from '../support/cinder-stub.js';
import type { HttpStub } from '../support/http-stub.js';
import { dockerAvailable } from '../support/servers.js';
import { API_HEADERS, zunApi } from '../support/zun-api.js';
import { namedVolumeId } from '../../services/resources/ids.js';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const RUN = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const HOST = `cinder-${RUN}`;
const PROJECT = '89afd400-b646-4bbc-b12b-c0a4d63e5bd3';
const CINDER_ID = 'f7223234-1afc-4d19-bfa3-d19deb6235ef';
const STATE = mkdtempSync(join(tmpdir(), 'zun-cinder-actor-'));
const backing = join(STATE, 'lvm-volume.img');
const VOLUME = namedVolumeId('default', 'cinder-data');

let cluster: Cluster;
printServiceLogsOnFailure(() => cluster);
let stub: HttpStub;
let cinder: Awaited<ReturnType<typeof startCinderStub>>['state'];
let loop = '';

const { api, until } = zunApi(() => cluster.gatewayUrl);

const mountsOf = (device: string) =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[0] === device);

async function logsOf(uuid: string): Promise<string> {
  const r = await fetch(`${cluster.gatewayUrl}/v1/containers/${uuid}/logs?stdout=true&stderr=true`, { headers: API_HEADERS });
  return r.text();
}

beforeAll(async () => {
  expect(await dockerAvailable(), 'dockerd must answer on /var/run/docker.sock (bash scripts/servers.sh start)').toBe(true);
  expect(process.getuid?.(), 'loop devices need root').toBe(0);
  writeFileSync(backing, '');
  truncateSync(backing, 256 * 1024 * 1024);
  loop = execFileSync('losetup', ['-f', '--show', backing], { encoding: 'utf8' }).trim();
  const started = await startCinderStub({ project: PROJECT, volumeId: CINDER_ID, attachmentId: randomUUID(), name: '' });
  stub = started.stub;
  cinder = started.state;
  cinder.connectionType = 'local';
  cinder.localDevice = loop;
  cluster = await startCluster({
    hosts: [],
    hostEnv: { RESYNC_SECONDS: '2', HOST_CPUS: '8', HOST_MEMORY_MIB: '8192', HOST_LEASE_TTL: '10' },
  });
  cluster.addHostActor(HOST, { STATE_DIR: join(STATE, 'host'), VOLUME_DRIVER: 'cinder', CINDER_URL: started.endpoint, OS_TOKEN: 'recorded-token' });
  await cluster.ready([HOST]);
}, 180_000);

afterAll(async () => {
  if (process.env['E2E_DUMP']) for (const s of cluster?.services.values() ?? []) console.log(`--- ${s.name}\n${s.output().slice(-8000)}`);
  await cluster?.stop();
  for (const f of mountsOf(loop)) execFileSync('umount', [f[1]!]);
  if (loop) execFileSync('losetup', ['-d', loop]);
  await stub?.close();
  rmSync(STATE, { recursive: true, force: true });
}, 120_000);

describe('cinder volumes through the host actor', () => {
  it('a named volume: Cinder create, reserve, connect, attach; mkfs once; the data survives the container and is read by the next', async () => {
    const first = await api('POST', '/v1/containers?run=true', {
      image: 'zun-base:latest',
      name: 'cinder-writer',
      host: HOST,
      cpu: 0.1,
      memory: '32',
      mounts: [{ source: 'cinder-data', destination: '/data' }],
      command: ['sh', '-c', 'echo via-cinder > /data/note; sleep 3600'],
    });
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    const a = first.body.uuid as string;
    await until(a, 'Running');

    // Cinder was asked as Zun asks it, and the device is mounted where the container's bind comes from.
    expect(cinder.status).toBe('in-use');
    expect(cinder.name).toBe(`zun-${VOLUME}`);
    const calls = stub.calls().map((c) => c.replace(`/v3/${PROJECT}`, ''));
    expect(calls).toEqual(expect.arrayContaining(['POST /volumes', `POST /volumes/${CINDER_ID}/action`]));
    const mountpoint = join(STATE, 'host', 'mnt', VOLUME);
    expect(mountsOf(loop).map((f) => [f[1], f[2]])).toEqual([[mountpoint, 'ext4']]);
    const list = await docker.listContainers({ all: true, filters: { label: [`zun.container.uuid=${a}`] } });
    expect(list).toHaveLength(1);
    const info = await docker.getContainer(list[0]!.Id).inspect();
    expect(info.HostConfig.Binds).toEqual([`${mountpoint}:/data`]);
    await waitFor('the note written', async () => readFileSync(join(mountpoint, 'note'), 'utf8').trim() === 'via-cinder' || undefined, 30_000, 200);

    // Delete: unmounted, detached in Cinder (available again), the volume kept (it is named).
    expect((await api('DELETE', `/v1/containers/${a}?stop=true`)).status).toBe(204);
    await until(a, 'gone');
    await waitFor('the volume detached', async () => (cinder.status === 'available' && mountsOf(loop).length === 0) || undefined, 30_000, 200);
    expect(cinder.attachments).toEqual([]);
    const deletes = stub.calls().filter((c) => c.startsWith('DELETE'));
    expect(deletes).toEqual([]);

    // The next container mounts it again: same data, not reformatted.
    const second = await api('POST', '/v1/containers?run=true', {
      image: 'zun-base:latest',
      name: 'cinder-reader',
      host: HOST,
      cpu: 0.1,
      memory: '32',
      mounts: [{ source: 'cinder-data', destination: '/mnt/again' }],
      command: ['sh', '-c', 'cat /mnt/again/note; sleep 3600'],
    });
    expect(second.status, JSON.stringify(second.body)).toBe(202);
    const b = second.body.uuid as string;
    await until(b, 'Running');
    await waitFor('the note read back', async () => (await logsOf(b)).includes('via-cinder') || undefined, 30_000, 250);
    expect(cinder.status).toBe('in-use');
    expect(stub.calls().filter((c) => c === `POST /v3/${PROJECT}/volumes`)).toHaveLength(1);

    expect((await api('DELETE', `/v1/containers/${b}?stop=true`)).status).toBe(204);
    await until(b, 'gone');
    await waitFor('detached again', async () => (cinder.status === 'available' && mountsOf(loop).length === 0) || undefined, 30_000, 200);
  });

  it('kill -9 between Cinder\'s create and the first attach, the container deleted meanwhile: the restarted actor finds the volume by name and deletes it', async () => {
    // A host of its own with its own Cinder, whose actor dies right after Cinder's create.
    const host = `${HOST}-crash`;
    const crashId = '0b4c2a8e-5d3f-4a61-9e7c-3f2d1c0b9a87';
    const own = await startCinderStub({ project: PROJECT, volumeId: crashId, attachmentId: randomUUID(), name: '' });
    try {
      const env = { STATE_DIR: join(STATE, 'crash-host'), VOLUME_DRIVER: 'cinder', CINDER_URL: own.endpoint, OS_TOKEN: 'recorded-token' };
      const doomed = cluster.addHostActor(host, { ...env, CRASH_AFTER: 'volume-created' });
      await cluster.ready([host]);
      const created = await api('POST', '/v1/containers?run=true', {
        image: 'zun-base:latest', name: 'cinder-crash', host, cpu: 0.1, memory: '32', mounts: [{ size: 1, destination: '/scratch' }],
      });
      expect(created.status, JSON.stringify(created.body)).toBe(202);
      const u = created.body.uuid as string;
      await waitFor('the actor to kill itself after the create', async () => doomed.exited() || undefined, 60_000, 100);
      // Made in Cinder, never attached: the log holds no Cinder id, the host no attachment state.
      expect(own.state.exists).toBe(true);
      expect(own.state.attachments).toEqual([]);

      // Deleted while its host is down; the restarted actor carries the delete out.
      expect((await api('DELETE', `/v1/containers/${u}?force=true`)).status).toBe(204);
      cluster.addHostActor(host, { ...env, CRASH_AFTER: '' });
      await until(u, 'gone');
      // The anonymous volume went with its container, in Cinder too: nothing leaked.
      await waitFor('the Cinder volume deleted', async () => !own.state.exists || undefined, 30_000, 200);
      const calls = own.stub.calls().map((c) => c.replace(`/v3/${PROJECT}`, ''));
      expect(calls.filter((c) => c === 'POST /volumes')).toHaveLength(1);
      expect(calls).toContain(`DELETE /volumes/${crashId}`);
    } finally {
      await own.stub.close();
    }
  });
});
