/**
 * What host actors of a test leave on this machine, removed after the test:
 * Docker containers and networks labelled with the test's host names, mounts
 * under their STATE_DIRs, loop devices of their volume files, and the
 * STATE_DIRs themselves. Only objects carrying the given host names (or
 * living under the given directories) are touched.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Docker from 'dockerode';

const docker = new Docker({ socketPath: '/var/run/docker.sock' });

/** Mountpoints at or under `dir`, deepest first (from /proc/self/mountinfo). */
export function mountsUnder(dir: string): string[] {
  const root = resolve(dir);
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const path = mp.replace(/\\040/g, ' ');
    if (path === root || path.startsWith(`${root}/`)) out.push(path);
  }
  return out.sort((a, b) => b.length - a.length);
}

/** Loop devices backed by `file` (losetup -j). */
export function loopDevicesOf(file: string): string[] {
  try {
    return execFileSync('losetup', ['-j', file], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(':')[0]!.trim())
      .filter((d) => d.startsWith('/dev/loop'));
  } catch {
    return [];
  }
}

/**
 * Removes the containers carrying `label` (`key=value`), one at a time, as
 * the host actor removes: dockerd 20.10.24 can deadlock when containers on
 * one network are torn down together (services/host-actor/docker.ts,
 * `removals`). A Docker label filter is an AND of its terms, so one label.
 */
export async function removeLabelledContainers(label: string): Promise<void> {
  const cs = await docker.listContainers({ all: true, filters: { label: [label] } });
  for (const c of cs) await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
}

/** `removeDirs`: also delete the state directories (after unmounting and detaching what is in them). */
export async function cleanupHosts(hosts: readonly string[], stateDirs: readonly string[], removeDirs = true): Promise<void> {
  try {
    // A label filter is an AND of its terms: one host at a time.
    for (const h of hosts) {
      await removeLabelledContainers(`zun.host=${h}`);
      // Right after its containers go, dockerd may still hold their endpoints ("active endpoints"): try again briefly.
      for (let attempt = 0; attempt < 10; attempt++) {
        const ns = await docker.listNetworks({ filters: { label: [`zun.host=${h}`, 'zun.managed=true'] } });
        if (ns.length === 0) break;
        await Promise.all(ns.map((n) => docker.getNetwork(n.Id).remove().catch(() => {})));
        if (attempt > 0) await new Promise((r) => setTimeout(r, 200));
      }
    }
  } catch {
    // dockerd not there: nothing of ours to remove either
  }
  for (const dir of stateDirs) {
    if (!existsSync(dir)) continue;
    for (const mp of mountsUnder(dir)) {
      try {
        execFileSync('umount', [mp]);
      } catch {
        try {
          execFileSync('umount', ['-l', mp]);
        } catch {
          // gone meanwhile
        }
      }
    }
    const vols = join(dir, 'volumes');
    if (existsSync(vols)) {
      for (const f of readdirSync(vols).filter((n) => n.endsWith('.img'))) {
        for (const dev of loopDevicesOf(join(vols, f))) {
          try {
            execFileSync('losetup', ['-d', dev]);
          } catch {
            // released meanwhile
          }
        }
      }
    }
    if (removeDirs) rmSync(dir, { recursive: true, force: true });
  }
}
