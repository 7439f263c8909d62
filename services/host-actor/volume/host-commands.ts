/**
 * Host commands for block volumes, and the mount steps Zun takes after it has
 * a device (zun/common/mount.py), made safe and idempotent:
 *
 *   ensureMounted(device, mountpoint)
 *     - already mounted there from this device: nothing to do;
 *     - something else mounted there: MOUNT_CONFLICT, touch nothing;
 *     - `blkid -p` finds ext4: mount it; finds no filesystem (exit 2): only
 *       then `mkfs.ext4 -F`, then mount; finds another filesystem or cannot
 *       tell: never format (FORMAT_MISMATCH / COMMAND_FAILED). Zun instead
 *       formats whenever the first mount fails, which can wipe a volume that
 *       failed to mount for any other reason.
 *   ensureUnmounted(mountpoint)
 *     - umount until /proc/self/mountinfo shows nothing there, then rmdir.
 *
 * Mount state is read from /proc/self/mountinfo (mountpoints unescaped). The
 * caller serialises operations per volume.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, realpath, rmdir } from 'node:fs/promises';
import type { Logger } from '../../platform/log.js';
import { VolumeError, VolumeErrorCode } from './types.js';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program (no shell). Resolves with its exit code, also when non-zero; rejects only when it cannot run. */
export type RunCommand = (cmd: string, args: readonly string[]) => Promise<CommandResult>;

export function createCommandRunner({ log, timeoutMs = 120_000 }: { log: Logger; timeoutMs?: number }): RunCommand {
  return (cmd, args) =>
    new Promise((resolve, reject) => {
      execFile(cmd, [...args], { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null) : 0;
        if (code === null) {
          reject(new VolumeError(VolumeErrorCode.command, `${cmd} could not run: ${err!.message}`, { cause: err }));
          return;
        }
        log.debug({ cmd, args, code }, 'host command');
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      });
    });
}

export interface MountEntry {
  readonly mountId: number;
  readonly majorMinor: string;
  readonly root: string;
  readonly mountPoint: string;
  readonly fsType: string;
  readonly source: string;
}

const unescapeMount = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Parses /proc/<pid>/mountinfo (proc(5)). */
export function parseMountInfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const f = left.split(' ');
    const g = right.split(' ');
    if (f.length < 6 || g.length < 2) continue;
    out.push({
      mountId: Number(f[0]),
      majorMinor: f[2]!,
      root: unescapeMount(f[3]!),
      mountPoint: unescapeMount(f[4]!),
      fsType: g[0]!,
      source: unescapeMount(g[1]!),
    });
  }
  return out;
}

export interface Mounter {
  /** Mounts at `mountpoint`, per /proc/self/mountinfo (the last one is the visible one). */
  mountsAt(mountpoint: string): Promise<MountEntry[]>;
  /** The filesystem type on the device; null when blkid finds none. */
  fsType(device: string): Promise<string | null>;
  ensureMounted(device: string, mountpoint: string): Promise<void>;
  ensureUnmounted(mountpoint: string): Promise<void>;
}

export function createMounter({
  run,
  log,
  readMountInfo = () => readFile('/proc/self/mountinfo', 'utf8'),
  fstype = 'ext4',
}: {
  run: RunCommand;
  log: Logger;
  readMountInfo?: () => Promise<string>;
  fstype?: string;
}): Mounter {
  const canonical = async (p: string): Promise<string> => realpath(p).catch(() => p);

  async function mountsAt(mountpoint: string): Promise<MountEntry[]> {
    const mp = await canonical(mountpoint);
    return parseMountInfo(await readMountInfo()).filter((m) => m.mountPoint === mp || m.mountPoint === mountpoint);
  }

  async function fsType(device: string): Promise<string | null> {
    // -p: probe the device itself, not blkid's cache. Exit 2: nothing found.
    const r = await run('blkid', ['-p', '-o', 'value', '-s', 'TYPE', device]);
    if (r.code === 0 && r.stdout.trim()) return r.stdout.trim();
    if (r.code === 2 && !r.stdout.trim()) return null;
    throw new VolumeError(VolumeErrorCode.command, `blkid ${device} exited ${r.code}: ${r.stderr.trim()}; not formatting`);
  }

  return {
    mountsAt,
    fsType,

    async ensureMounted(device, mountpoint) {
      const dev = await canonical(device);
      const current = await mountsAt(mountpoint);
      if (current.length > 0) {
        const top = current[current.length - 1]!;
        if ((await canonical(top.source)) === dev) return;
        throw new VolumeError(VolumeErrorCode.mountConflict, `${mountpoint} already has ${top.source} (${top.fsType}) mounted, not ${device}`);
      }
      const type = await fsType(device);
      if (type === null) {
        const mk = await run(`mkfs.${fstype}`, ['-F', '-q', device]);
        if (mk.code !== 0) throw new VolumeError(VolumeErrorCode.command, `mkfs.${fstype} ${device} exited ${mk.code}: ${mk.stderr.trim()}`);
        log.info({ device, fstype }, 'formatted an empty volume');
      } else if (type !== fstype) {
        throw new VolumeError(VolumeErrorCode.formatMismatch, `${device} holds ${type}, not ${fstype}; not formatting it`);
      }
      await mkdir(mountpoint, { recursive: true });
      const m = await run('mount', ['-t', fstype, device, mountpoint]);
      if (m.code !== 0) throw new VolumeError(VolumeErrorCode.command, `mount ${device} ${mountpoint} exited ${m.code}: ${m.stderr.trim()}`);
      log.info({ device, mountpoint }, 'volume mounted');
    },

    async ensureUnmounted(mountpoint) {
      // A crash can leave a mount stacked twice; take them all off.
      for (let i = 0; i < 16 && (await mountsAt(mountpoint)).length > 0; i++) {
        const u = await run('umount', [mountpoint]);
        if (u.code !== 0) {
          const busy = /busy/i.test(u.stderr);
          throw new VolumeError(busy ? VolumeErrorCode.busy : VolumeErrorCode.command, `umount ${mountpoint} exited ${u.code}: ${u.stderr.trim()}`);
        }
        log.info({ mountpoint }, 'volume unmounted');
      }
      if ((await mountsAt(mountpoint)).length > 0) throw new VolumeError(VolumeErrorCode.busy, `${mountpoint} is still mounted`);
      await rmdir(mountpoint).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw new VolumeError(VolumeErrorCode.command, `rmdir ${mountpoint}: ${e.message}`, { cause: e });
      });
    },
  };
}

/** `losetup -j <file>`: the loop devices backed by the file. */
export async function loopDevicesOf(run: RunCommand, file: string): Promise<string[]> {
  const r = await run('losetup', ['-j', file]);
  if (r.code !== 0) throw new VolumeError(VolumeErrorCode.command, `losetup -j ${file} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout
    .split('\n')
    .map((l) => /^(\/dev\/loop\d+):/.exec(l)?.[1])
    .filter((d): d is string => d !== undefined);
}
