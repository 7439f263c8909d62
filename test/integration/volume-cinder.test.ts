/**
 * The cinder volume driver's mount steps on a real device: Cinder itself is a
 * loopback stub answering with RECORDED responses (test/fixtures/cinder), its
 * connection info of type `local` pointing at a loop device this test sets up
 * (what an LVM backend on the same host would report). Everything after the
 * API calls is real: blkid, mkfs.ext4 on first use only, mount, the bind
 * mount into a zun-base container, umount. The driver is built through the
 * configuration path (VOLUME_DRIVER=cinder).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../services/platform/log.js';
import { createVolumeDriver, parseVolumeConfig, type VolumeDriver, type VolumeRef } from '../../services/host-actor/volume/index.js';
import { startCinderStub } from '../support/cinder-stub.js';
import type { HttpStub } from '../support/http-stub.js';
import { dockerAvailable } from '../support/servers.js';
import { removeLabelledContainers } from '../support/host-cleanup.js';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const log = createLogger('cinder-test', 'silent');
const RUN = `cindertest-${randomUUID().slice(0, 8)}`;
const PROJECT = '89afd400-b646-4bbc-b12b-c0a4d63e5bd3';
const CINDER_ID = 'f7223234-1afc-4d19-bfa3-d19deb6235ef';
const CONTAINER = randomUUID();
const stateDir = mkdtempSync(path.join(os.tmpdir(), 'zun-cinder-int-'));
const backing = path.join(stateDir, 'lvm-volume.img');

const mountsAt = (mp: string) =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[1] === mp);

async function runContainer(cmd: string[], binds: string[]): Promise<{ code: number; output: string }> {
  const c = await docker.createContainer({
    Image: 'zun-base:latest',
    Cmd: cmd,
    Tty: true,
    Labels: { 'zun.managed': 'true', 'zun.host': RUN, 'zun.test.run': RUN },
    HostConfig: { Binds: binds, Init: true, NetworkMode: 'none' },
  });
  try {
    await c.start();
    const { StatusCode } = (await c.wait()) as { StatusCode: number };
    return { code: StatusCode, output: ((await c.logs({ stdout: true, stderr: true })) as unknown as Buffer).toString('utf8') };
  } finally {
    await c.remove({ force: true });
  }
}

describe('cinder driver: recorded Cinder API, real device mount steps', () => {
  let stub: HttpStub;
  let state: Awaited<ReturnType<typeof startCinderStub>>['state'];
  let driver: VolumeDriver;
  let loop: string;
  const vol: VolumeRef = { id: randomUUID(), sizeGb: 1, providerId: null };

  beforeAll(async () => {
    expect(await dockerAvailable(), 'dockerd must answer on /var/run/docker.sock').toBe(true);
    expect(process.getuid?.(), 'loop devices need root').toBe(0);
    writeFileSync(backing, '');
    truncateSync(backing, 256 * 1024 * 1024);
    loop = execFileSync('losetup', ['-f', '--show', backing], { encoding: 'utf8' }).trim();
    const started = await startCinderStub({ project: PROJECT, volumeId: CINDER_ID, attachmentId: randomUUID(), name: `zun-${vol.id}` });
    stub = started.stub;
    state = started.state;
    state.connectionType = 'local';
    state.localDevice = loop;
    const config = parseVolumeConfig({ VOLUME_DRIVER: 'cinder', CINDER_URL: started.endpoint, OS_TOKEN: 'tok', STATE_DIR: stateDir });
    driver = createVolumeDriver(config, { host: RUN, log }).volumes;
  });

  afterAll(async () => {
    await removeLabelledContainers(`zun.test.run=${RUN}`);
    const mp = path.join(stateDir, 'mnt', vol.id);
    if (mountsAt(mp).length > 0) execFileSync('umount', [mp]);
    if (loop) execFileSync('losetup', ['-d', loop]);
    await stub?.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('creates, attaches, formats once, mounts, and a container writes through the bind mount', async () => {
    const { providerId } = await driver.create(vol);
    expect(providerId).toBe(CINDER_ID);
    const ref = { ...vol, providerId };
    const { devicePath } = await driver.attach(ref, { containerUuid: CONTAINER });
    expect(devicePath).toBe(loop);
    expect(state.status).toBe('in-use');
    const { mountpoint } = await driver.mount(ref);
    expect(mountsAt(mountpoint).map((f) => [f[0], f[2]])).toEqual([[loop, 'ext4']]);
    const r = await runContainer(['sh', '-c', 'echo from-cinder > /data/f'], [`${mountpoint}:/data`]);
    expect(r.code).toBe(0);
    expect(readFileSync(path.join(mountpoint, 'f'), 'utf8')).toBe('from-cinder\n');
  });

  it('detaches (unmount + Cinder detach) and a second attach finds the data: no reformat', async () => {
    const ref = { ...vol, providerId: CINDER_ID };
    const mp = driver.mountpointOf(ref);
    await driver.detach(ref, { containerUuid: CONTAINER });
    expect(mountsAt(mp)).toEqual([]);
    expect(existsSync(mp)).toBe(false);
    expect(state.status).toBe('available');
    await driver.attach(ref, { containerUuid: CONTAINER });
    await driver.mount(ref);
    const r = await runContainer(['cat', '/data/f'], [`${mp}:/data`]);
    expect(r.output.trim()).toBe('from-cinder');
    await driver.detach(ref, { containerUuid: CONTAINER });
    await driver.delete(ref);
    expect(mountsAt(mp)).toEqual([]);
    expect(await driver.list()).toEqual([]);
    const paths = stub.calls().map((c) => c.replace(`/v3/${PROJECT}`, ''));
    expect(paths.at(-3)).toBe(`DELETE /volumes/${CINDER_ID}`);
  });
});
