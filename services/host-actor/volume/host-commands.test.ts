// The mount steps with a scripted command runner and mount table: when they
// format (only on "no filesystem"), when they refuse, and that they are
// no-ops on a converged host. The real commands run in
// test/integration/volume-local-block.test.ts.
import { mkdtempSync, rmSync, existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/log.js';
import { createMounter, loopDevicesOf, parseMountInfo, type CommandResult } from './host-commands.js';
import { VolumeError } from './types.js';

const log = createLogger('test', 'silent');

describe('parseMountInfo', () => {
  it('reads mountpoint, source and type, unescaping octal escapes', () => {
    const text = [
      '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
      '95 22 7:3 / /var/lib/zun/mnt/a\\040b rw,relatime shared:50 - ext4 /dev/loop3 rw',
      '96 95 0:50 / /proc rw master:2 - proc proc rw',
      '',
    ].join('\n');
    expect(parseMountInfo(text)).toEqual([
      { mountId: 22, majorMinor: '8:1', root: '/', mountPoint: '/', fsType: 'ext4', source: '/dev/sda1' },
      { mountId: 95, majorMinor: '7:3', root: '/', mountPoint: '/var/lib/zun/mnt/a b', fsType: 'ext4', source: '/dev/loop3' },
      { mountId: 96, majorMinor: '0:50', root: '/', mountPoint: '/proc', fsType: 'proc', source: 'proc' },
    ]);
  });
});

describe('createMounter', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  /** A fake host: blkid answers from `fs`, mount/umount edit the mount table. */
  function fakeHost(fs: Record<string, CommandResult>) {
    const calls: string[] = [];
    const table: { mp: string; dev: string }[] = [];
    const run = async (cmd: string, args: readonly string[]): Promise<CommandResult> => {
      calls.push([cmd, ...args].join(' '));
      if (cmd === 'blkid') return fs[args[args.length - 1]!] ?? { code: 2, stdout: '', stderr: '' };
      if (cmd === 'mkfs.ext4') return { code: 0, stdout: '', stderr: '' };
      if (cmd === 'mount') {
        table.push({ dev: args[2]!, mp: args[3]! });
        return { code: 0, stdout: '', stderr: '' };
      }
      if (cmd === 'umount') {
        const i = table.map((t) => t.mp).lastIndexOf(args[0]!);
        if (i < 0) return { code: 32, stdout: '', stderr: 'umount: not mounted.' };
        table.splice(i, 1);
        return { code: 0, stdout: '', stderr: '' };
      }
      return { code: 127, stdout: '', stderr: 'unknown' };
    };
    const readMountInfo = async () => table.map((t, i) => `${100 + i} 22 7:${i} / ${t.mp} rw - ext4 ${t.dev} rw`).join('\n');
    return { run, readMountInfo, calls, table };
  }

  function tmp(): string {
    const d = mkdtempSync(path.join(os.tmpdir(), 'zun-mounter-'));
    dirs.push(d);
    return d;
  }

  it('formats a device only when blkid finds no filesystem, then mounts', async () => {
    const h = fakeHost({});
    const m = createMounter({ run: h.run, log, readMountInfo: h.readMountInfo });
    const mp = path.join(tmp(), 'mnt', 'v1');
    await m.ensureMounted('/dev/loop7', mp);
    expect(h.calls).toEqual(['blkid -p -o value -s TYPE /dev/loop7', 'mkfs.ext4 -F -q /dev/loop7', `mount -t ext4 /dev/loop7 ${mp}`]);
    expect(existsSync(mp)).toBe(true);
  });

  it('never formats a device that has ext4 already', async () => {
    const h = fakeHost({ '/dev/loop7': { code: 0, stdout: 'ext4\n', stderr: '' } });
    const m = createMounter({ run: h.run, log, readMountInfo: h.readMountInfo });
    const mp = path.join(tmp(), 'v1');
    await m.ensureMounted('/dev/loop7', mp);
    expect(h.calls.some((c) => c.startsWith('mkfs'))).toBe(false);
    expect(h.table).toEqual([{ dev: '/dev/loop7', mp }]);
  });

  it('is a no-op when the device is already mounted there', async () => {
    const h = fakeHost({ '/dev/loop7': { code: 0, stdout: 'ext4\n', stderr: '' } });
    const m = createMounter({ run: h.run, log, readMountInfo: h.readMountInfo });
    const mp = path.join(tmp(), 'v1');
    await m.ensureMounted('/dev/loop7', mp);
    const n = h.calls.length;
    await m.ensureMounted('/dev/loop7', mp);
    expect(h.calls.length).toBe(n);
    expect(h.table).toHaveLength(1);
  });

  it('refuses to mount over another device, to format another filesystem, or when blkid fails', async () => {
    const h = fakeHost({
      '/dev/loop8': { code: 0, stdout: 'xfs\n', stderr: '' },
      '/dev/loop9': { code: 4, stdout: '', stderr: 'blkid: error: /dev/loop9: Permission denied' },
    });
    const m = createMounter({ run: h.run, log, readMountInfo: h.readMountInfo });
    const mp = path.join(tmp(), 'v1');
    h.table.push({ dev: '/dev/loop1', mp });
    await expect(m.ensureMounted('/dev/loop7', mp)).rejects.toMatchObject({ code: 'MOUNT_CONFLICT' });
    await expect(m.ensureMounted('/dev/loop8', path.join(tmp(), 'v2'))).rejects.toMatchObject({ code: 'FORMAT_MISMATCH' });
    const e = await m.ensureMounted('/dev/loop9', path.join(tmp(), 'v3')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(VolumeError);
    expect((e as VolumeError).code).toBe('COMMAND_FAILED');
    expect(h.calls.some((c) => c.startsWith('mkfs'))).toBe(false);
  });

  it('unmounts stacked mounts and removes the directory; a no-op when nothing is mounted', async () => {
    const h = fakeHost({});
    const m = createMounter({ run: h.run, log, readMountInfo: h.readMountInfo });
    const mp = path.join(tmp(), 'v1');
    mkdirSync(mp);
    h.table.push({ dev: '/dev/loop7', mp }, { dev: '/dev/loop7', mp });
    await m.ensureUnmounted(mp);
    expect(h.table).toEqual([]);
    expect(h.calls.filter((c) => c.startsWith('umount'))).toHaveLength(2);
    expect(existsSync(mp)).toBe(false);
    await m.ensureUnmounted(mp);
    expect(h.calls.filter((c) => c.startsWith('umount'))).toHaveLength(2);
  });

  it('reports a busy mount as BUSY', async () => {
    const mp = path.join(tmp(), 'v1');
    const m = createMounter({
      run: async () => ({ code: 32, stdout: '', stderr: `umount: ${mp}: target is busy.` }),
      log,
      readMountInfo: async () => `100 22 7:1 / ${mp} rw - ext4 /dev/loop1 rw`,
    });
    await expect(m.ensureUnmounted(mp)).rejects.toMatchObject({ code: 'BUSY' });
  });
});

describe('loopDevicesOf', () => {
  it('parses losetup -j output', async () => {
    const out = '/dev/loop3: [64769]:1573038 (/var/lib/zun/volumes/x.img)\n/dev/loop11: [64769]:1573038 (/var/lib/zun/volumes/x.img)\n';
    expect(await loopDevicesOf(async () => ({ code: 0, stdout: out, stderr: '' }), '/var/lib/zun/volumes/x.img')).toEqual(['/dev/loop3', '/dev/loop11']);
    expect(await loopDevicesOf(async () => ({ code: 0, stdout: '', stderr: '' }), '/x')).toEqual([]);
  });
});
