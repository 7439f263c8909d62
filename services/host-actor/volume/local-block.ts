/**
 * VOLUME_DRIVER=local-block: the block volume of this machine, standing in
 * for a Cinder volume and taking the steps Zun takes after Cinder attached
 * one (zun/volume/driver.py Cinder._mount_device, zun/common/mount.py).
 *
 *   ${STATE_DIR}/volumes/<id>.img   sparse backing file (never shrunk)
 *   losetup -f --show <file>        attach: a loop device
 *   blkid / mkfs.ext4 -F            ext4 on first use only: data survives
 *   ${STATE_DIR}/mnt/<id>           mountpoint, bind-mounted into containers
 *
 * Crash safety comes from reading the host, never from memory: the loop
 * device of a volume is found with `losetup -j <file>` and its mount in
 * /proc/self/mountinfo, so a driver started after a crash attaches nothing
 * twice and mounts nothing twice. Operations are serialised per volume inside
 * one process; one host actor owns a STATE_DIR.
 */
import { mkdir, open, readdir, realpath, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../platform/log.js';
import { createKeyedLock } from '../network/types.js';
import { createMounter, loopDevicesOf, type Mounter, type RunCommand } from './host-commands.js';
import { VolumeError, VolumeErrorCode, assertSafeId, type VolumeDriver, type VolumeObservation, type VolumeRef } from './types.js';

const GiB = 1024 ** 3;

export function createLocalBlockDriver({
  stateDir,
  run,
  log,
  mounter,
  sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
}: {
  /** STATE_DIR: volumes/ and mnt/ live under it. */
  stateDir: string;
  run: RunCommand;
  log: Logger;
  mounter?: Mounter;
  sleep?: (ms: number) => Promise<void>;
}): VolumeDriver {
  const withLock = createKeyedLock();
  const mounts = mounter ?? createMounter({ run, log });
  const volumesDir = path.join(stateDir, 'volumes');
  const mntDir = path.join(stateDir, 'mnt');
  const imageOf = (id: string) => path.join(volumesDir, `${id}.img`);
  const mountpointOf = (vol: Pick<VolumeRef, 'id'>) => path.join(mntDir, vol.id);

  async function imageExists(id: string): Promise<boolean> {
    try {
      return (await stat(imageOf(id))).isFile();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  async function observe(vol: Pick<VolumeRef, 'id'>): Promise<VolumeObservation> {
    const exists = await imageExists(vol.id);
    const devices = exists ? await loopDevicesOf(run, imageOf(vol.id)) : [];
    const mp = mountpointOf(vol);
    const at = await mounts.mountsAt(mp);
    const top = at[at.length - 1];
    return { id: vol.id, providerId: vol.id, exists, devices, mountpoint: mp, mounted: at.length > 0, mountSource: top?.source ?? null };
  }

  async function detachUnlocked(vol: VolumeRef): Promise<void> {
    await mounts.ensureUnmounted(mountpointOf(vol));
    if (!(await imageExists(vol.id))) return;
    const file = imageOf(vol.id);
    for (const dev of await loopDevicesOf(run, file)) {
      const r = await run('losetup', ['-d', dev]);
      if (r.code !== 0 && !/No such device/i.test(r.stderr)) {
        throw new VolumeError(VolumeErrorCode.command, `losetup -d ${dev} exited ${r.code}: ${r.stderr.trim()}`);
      }
      log.info({ volume: vol.id, device: dev }, 'loop device detached');
    }
    // A loop device still open elsewhere (a container's mount namespace) only
    // gets autoclear: it stays until released. Report that instead of leaking silently.
    for (let i = 0; i < 20; i++) {
      const left = await loopDevicesOf(run, file);
      if (left.length === 0) return;
      await sleep(100);
    }
    throw new VolumeError(VolumeErrorCode.busy, `loop device(s) of volume ${vol.id} still in use after detach: ${(await loopDevicesOf(run, file)).join(', ')}`);
  }

  return {
    kind: 'local-block',
    mountpointOf,

    async create(vol) {
      assertSafeId(vol.id);
      return withLock(vol.id, async () => {
        if (!Number.isInteger(vol.sizeGb) || vol.sizeGb < 1) throw new VolumeError(VolumeErrorCode.invalid, `volume size must be a positive integer of GiB, not ${vol.sizeGb}`);
        await mkdir(volumesDir, { recursive: true });
        const bytes = vol.sizeGb * GiB;
        // 'a': create if missing, never truncate an existing file (its data).
        const fh = await open(imageOf(vol.id), 'a', 0o600);
        try {
          const { size } = await fh.stat();
          if (size < bytes) {
            await fh.truncate(bytes);
            log.info({ volume: vol.id, sizeGb: vol.sizeGb, grownFrom: size }, 'sparse backing file sized');
          }
        } finally {
          await fh.close();
        }
        return { providerId: vol.id };
      });
    },

    async attach(vol) {
      assertSafeId(vol.id);
      return withLock(vol.id, async () => {
        const file = imageOf(vol.id);
        if (!(await imageExists(vol.id))) throw new VolumeError(VolumeErrorCode.notFound, `volume ${vol.id} has no backing file ${file}`);
        const existing = await loopDevicesOf(run, file);
        if (existing.length > 0) {
          if (existing.length > 1) log.warn({ volume: vol.id, devices: existing }, 'volume has more than one loop device; detach clears them');
          return { devicePath: existing[0]! };
        }
        const r = await run('losetup', ['-f', '--show', file]);
        const dev = r.stdout.trim();
        if (r.code !== 0 || !/^\/dev\/loop\d+$/.test(dev)) {
          throw new VolumeError(VolumeErrorCode.command, `losetup -f --show ${file} exited ${r.code}: ${r.stderr.trim() || dev}`);
        }
        log.info({ volume: vol.id, device: dev }, 'loop device attached');
        return { devicePath: dev };
      });
    },

    async mount(vol) {
      assertSafeId(vol.id);
      return withLock(vol.id, async () => {
        const devices = (await imageExists(vol.id)) ? await loopDevicesOf(run, imageOf(vol.id)) : [];
        if (devices.length === 0) throw new VolumeError(VolumeErrorCode.notAttached, `volume ${vol.id} is not attached; attach it first`);
        const mp = mountpointOf(vol);
        // Mounted from any of its own loop devices counts as mounted.
        const at = await mounts.mountsAt(mp);
        const top = at[at.length - 1];
        if (top) {
          const src = await realpath(top.source).catch(() => top.source);
          if (devices.includes(src)) return { mountpoint: mp };
        }
        await mounts.ensureMounted(devices[0]!, mp);
        return { mountpoint: mp };
      });
    },

    async unmount(vol) {
      assertSafeId(vol.id);
      return withLock(vol.id, () => mounts.ensureUnmounted(mountpointOf(vol)));
    },

    async detach(vol) {
      assertSafeId(vol.id);
      return withLock(vol.id, () => detachUnlocked(vol));
    },

    async delete(vol) {
      assertSafeId(vol.id);
      return withLock(vol.id, async () => {
        await detachUnlocked(vol);
        await rm(imageOf(vol.id), { force: true });
        log.info({ volume: vol.id }, 'volume deleted');
      });
    },

    async inspect(vol) {
      assertSafeId(vol.id);
      return observe(vol);
    },

    async list() {
      let names: string[];
      try {
        names = await readdir(volumesDir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw e;
      }
      const ids = names.filter((n) => n.endsWith('.img')).map((n) => n.slice(0, -'.img'.length));
      return Promise.all(ids.map((id) => observe({ id })));
    },
  };
}
