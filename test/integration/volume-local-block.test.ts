/**
 * The local-block volume driver on this machine, as root: a sparse file on a
 * loop device, ext4 on first use, mounted and bind-mounted into real
 * containers (zun-base:latest) on the real dockerd. Data written through one
 * container survives unmount, detach and a second attach; nothing is leaked
 * (checked with `losetup -j <file>` and /proc/mounts); a "crash" (a new
 * driver instance) between attach and mount converges without a second loop
 * device or a second mount. Also: bind-type file injection.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../services/platform/log.js';
import { createBindFileStore } from '../../services/host-actor/volume/bind-file.js';
import { createCommandRunner } from '../../services/host-actor/volume/host-commands.js';
import { createLocalBlockDriver } from '../../services/host-actor/volume/local-block.js';
import type { VolumeDriver, VolumeRef } from '../../services/host-actor/volume/types.js';
import { dockerAvailable } from '../support/servers.js';
import { removeLabelledContainers } from '../support/host-cleanup.js';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const log = createLogger('volume-test', 'silent');
const RUN = `voltest-${randomUUID().slice(0, 8)}`;
const stateDir = mkdtempSync(path.join(os.tmpdir(), 'zun-vol-'));
const run = createCommandRunner({ log });
const newDriver = (): VolumeDriver => createLocalBlockDriver({ stateDir, run, log });

const VOL: VolumeRef = { id: randomUUID(), sizeGb: 1 };
const imageFile = (vol: VolumeRef) => path.join(stateDir, 'volumes', `${vol.id}.img`);

/** `losetup -j <file>`, straight from the host. */
function loopsOf(file: string): string[] {
  const out = execFileSync('losetup', ['-j', file], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean).map((l) => l.split(':')[0]!);
}

/** /proc/mounts entries at a mountpoint. */
function mountsAt(mp: string): { source: string; type: string }[] {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[1] === mp)
    .map((f) => ({ source: f[0]!, type: f[2]! }));
}

/** Runs a command in a fresh container of zun-base with the given binds; its exit code and output. */
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
    const logs = (await c.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    return { code: StatusCode, output: logs.toString('utf8') };
  } finally {
    await c.remove({ force: true });
  }
}

describe('local-block volumes on loop devices, bind-mounted into real containers', () => {
  let driver: VolumeDriver;

  beforeAll(async () => {
    expect(await dockerAvailable(), 'dockerd must answer on /var/run/docker.sock').toBe(true);
    expect(process.getuid?.(), 'loop devices need root').toBe(0);
    driver = newDriver();
  });

  afterAll(async () => {
    await removeLabelledContainers(`zun.test.run=${RUN}`);
    const cleanup = newDriver();
    for (const v of await cleanup.list()) await cleanup.delete({ id: v.id, sizeGb: 1 }).catch(() => {});
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('creates a sparse backing file, idempotently', async () => {
    expect(await driver.create(VOL)).toEqual({ providerId: VOL.id });
    const st = statSync(imageFile(VOL));
    expect(st.size).toBe(1024 ** 3);
    expect(st.blocks * 512).toBeLessThan(1024 * 1024);
    await driver.create(VOL);
    expect(statSync(imageFile(VOL)).size).toBe(1024 ** 3);
  });

  it('attaches a loop device once, however often it is asked', async () => {
    const [a, b] = await Promise.all([driver.attach(VOL), driver.attach(VOL)]);
    expect(a.devicePath).toMatch(/^\/dev\/loop\d+$/);
    expect(b.devicePath).toBe(a.devicePath);
    expect((await driver.attach(VOL)).devicePath).toBe(a.devicePath);
    expect(loopsOf(imageFile(VOL))).toEqual([a.devicePath]);
  });

  it('formats ext4 on first use and mounts at STATE_DIR/mnt/<id>, once', async () => {
    const { devicePath } = await driver.attach(VOL);
    const { mountpoint } = await driver.mount(VOL);
    expect(mountpoint).toBe(path.join(stateDir, 'mnt', VOL.id));
    await driver.mount(VOL);
    expect(mountsAt(mountpoint)).toEqual([{ source: devicePath, type: 'ext4' }]);
    expect(execFileSync('blkid', ['-p', '-o', 'value', '-s', 'TYPE', devicePath], { encoding: 'utf8' }).trim()).toBe('ext4');
    expect(await driver.inspect(VOL)).toEqual({
      id: VOL.id,
      providerId: VOL.id,
      exists: true,
      devices: [devicePath],
      mountpoint,
      mounted: true,
      mountSource: devicePath,
    });
  });

  it('a container writes through the bind mount', async () => {
    const mp = driver.mountpointOf(VOL);
    const r = await runContainer(['sh', '-c', 'echo hi > /data/f'], [`${mp}:/data`]);
    expect(r.code).toBe(0);
    expect(readFileSync(path.join(mp, 'f'), 'utf8')).toBe('hi\n');
  });

  it('unmount and detach leave no mount and no loop device behind, idempotently', async () => {
    const mp = driver.mountpointOf(VOL);
    await driver.unmount(VOL);
    expect(mountsAt(mp)).toEqual([]);
    expect(existsSync(mp)).toBe(false);
    await driver.unmount(VOL);
    await driver.detach(VOL);
    expect(loopsOf(imageFile(VOL))).toEqual([]);
    await driver.detach(VOL);
    expect(await driver.inspect(VOL)).toMatchObject({ exists: true, devices: [], mounted: false, mountSource: null });
  });

  it('attach + mount again keeps the data (no reformat), and a new container reads it back', async () => {
    await driver.attach(VOL);
    const { mountpoint } = await driver.mount(VOL);
    expect(readFileSync(path.join(mountpoint, 'f'), 'utf8')).toBe('hi\n');
    const r = await runContainer(['cat', '/data/f'], [`${mountpoint}:/data`]);
    expect(r.code).toBe(0);
    expect(r.output.trim()).toBe('hi');
  });

  it('a crash between attach and mount converges: one loop device, one mount', async () => {
    await driver.detach(VOL);
    const { devicePath } = await driver.attach(VOL);
    const restarted = newDriver();
    expect((await restarted.attach(VOL)).devicePath).toBe(devicePath);
    const { mountpoint } = await restarted.mount(VOL);
    // and a crash after mount: a third instance mounts nothing twice
    await newDriver().mount(VOL);
    expect(loopsOf(imageFile(VOL))).toEqual([devicePath]);
    expect(mountsAt(mountpoint)).toEqual([{ source: devicePath, type: 'ext4' }]);
    expect(readFileSync(path.join(mountpoint, 'f'), 'utf8')).toBe('hi\n');
  });

  it('detach while a container still holds the volume is BUSY, and converges once it is gone', async () => {
    const mp = driver.mountpointOf(VOL);
    const c = await docker.createContainer({
      Image: 'zun-base:latest',
      Cmd: ['sleep', '300'],
      Labels: { 'zun.managed': 'true', 'zun.host': RUN, 'zun.test.run': RUN },
      HostConfig: { Binds: [`${mp}:/data`], Init: true, NetworkMode: 'none' },
    });
    await c.start();
    await expect(driver.detach(VOL)).rejects.toMatchObject({ code: 'BUSY' });
    await c.remove({ force: true });
    // The loop device was set to autoclear: it goes away with the last user.
    await driver.detach(VOL);
    expect(loopsOf(imageFile(VOL))).toEqual([]);
    expect(mountsAt(mp)).toEqual([]);
  });

  it('mount before attach is refused', async () => {
    await expect(driver.mount(VOL)).rejects.toMatchObject({ code: 'NOT_ATTACHED' });
  });

  it('lists what is on the host and deletes without a trace', async () => {
    const other: VolumeRef = { id: randomUUID(), sizeGb: 1 };
    await driver.create(other);
    await driver.attach(other);
    await driver.mount(other);
    writeFileSync(path.join(driver.mountpointOf(other), 'x'), 'x');
    const listed = await driver.list();
    expect(listed.map((v) => v.id).sort()).toEqual([VOL.id, other.id].sort());
    expect(listed.find((v) => v.id === other.id)).toMatchObject({ mounted: true, devices: [expect.stringMatching(/^\/dev\/loop/)] });
    await driver.delete(other);
    await driver.delete(VOL);
    for (const v of [other, VOL]) {
      expect(existsSync(imageFile(v))).toBe(false);
      expect(mountsAt(driver.mountpointOf(v))).toEqual([]);
      expect(existsSync(driver.mountpointOf(v))).toBe(false);
    }
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(stateDir);
    expect(execFileSync('losetup', ['-a'], { encoding: 'utf8' })).not.toContain(stateDir);
    expect(await driver.list()).toEqual([]);
    await driver.delete(VOL);
  });

  it('refuses unsafe ids and bad sizes', async () => {
    await expect(driver.create({ id: '../etc', sizeGb: 1 })).rejects.toMatchObject({ code: 'INVALID' });
    await expect(driver.create({ id: randomUUID(), sizeGb: 0 })).rejects.toMatchObject({ code: 'INVALID' });
    await expect(driver.attach({ id: randomUUID(), sizeGb: 1 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('injects a bind-type file (base64 content) and bind-mounts it at its destination', async () => {
    const files = createBindFileStore({ stateDir });
    const id = randomUUID();
    const { source } = await files.inject({ id, contentBase64: Buffer.from('hello file\n').toString('base64') });
    expect(source).toBe(path.join(stateDir, 'mnt', id, id));
    const r = await runContainer(['cat', '/etc/injected.conf'], [`${source}:/etc/injected.conf`]);
    expect(r.code).toBe(0);
    expect(r.output.trim()).toBe('hello file');
    await expect(files.inject({ id, contentBase64: 'not base64!' })).rejects.toMatchObject({ code: 'INVALID' });
    await files.remove({ id });
    expect(existsSync(path.dirname(source))).toBe(false);
    await files.remove({ id });
  });
});
