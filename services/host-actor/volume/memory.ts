/**
 * In-memory twins of the VolumeDriver and BindFileStore ports, for unit tests
 * of the host actor. Same idempotency as the real drivers (create / attach /
 * mount of what exists are no-ops; unmount / detach / delete of what is gone
 * too), and the state is inspectable for leak checks: backing stores,
 * attached devices, mounts.
 */
import type { BindFileStore } from './bind-file.js';
import { VolumeError, VolumeErrorCode, type VolumeDriver, type VolumeObservation, type VolumeRef } from './types.js';

interface MemVolume {
  exists: boolean;
  device: string | null;
  mounted: boolean;
  /** What was written to it, standing in for the filesystem's content. */
  data: Map<string, string>;
}

export interface MemoryVolumeDriver extends VolumeDriver {
  volumes(): Map<string, MemVolume>;
  readonly calls: { op: string; id: string }[];
}

export function createMemoryVolumeDriver(): MemoryVolumeDriver {
  const vols = new Map<string, MemVolume>();
  const calls: { op: string; id: string }[] = [];
  let dev = 0;
  const mountpointOf = (v: Pick<VolumeRef, 'id'>) => `/mem/mnt/${v.id}`;
  const observe = (id: string): VolumeObservation => {
    const v = vols.get(id);
    return {
      id,
      providerId: id,
      exists: v?.exists ?? false,
      devices: v?.device ? [v.device] : [],
      mountpoint: mountpointOf({ id }),
      mounted: v?.mounted ?? false,
      mountSource: v?.mounted ? v.device : null,
    };
  };
  return {
    kind: 'local-block',
    volumes: () => vols,
    calls,
    mountpointOf,
    async create(v) {
      calls.push({ op: 'create', id: v.id });
      const cur = vols.get(v.id);
      if (!cur) vols.set(v.id, { exists: true, device: null, mounted: false, data: new Map() });
      return { providerId: v.id };
    },
    async attach(v) {
      calls.push({ op: 'attach', id: v.id });
      const cur = vols.get(v.id);
      if (!cur?.exists) throw new VolumeError(VolumeErrorCode.notFound, `volume ${v.id} has no backing file`);
      cur.device ??= `/dev/loop${dev++}`;
      return { devicePath: cur.device };
    },
    async mount(v) {
      calls.push({ op: 'mount', id: v.id });
      const cur = vols.get(v.id);
      if (!cur?.device) throw new VolumeError(VolumeErrorCode.notAttached, `volume ${v.id} is not attached`);
      cur.mounted = true;
      return { mountpoint: mountpointOf(v) };
    },
    async unmount(v) {
      calls.push({ op: 'unmount', id: v.id });
      const cur = vols.get(v.id);
      if (cur) cur.mounted = false;
    },
    async detach(v) {
      calls.push({ op: 'detach', id: v.id });
      const cur = vols.get(v.id);
      if (cur) {
        cur.mounted = false;
        cur.device = null;
      }
    },
    async delete(v) {
      calls.push({ op: 'delete', id: v.id });
      vols.delete(v.id);
    },
    async inspect(v) {
      return observe(v.id);
    },
    async list() {
      return [...vols.keys()].map(observe);
    },
  };
}

export function createMemoryBindFileStore(): BindFileStore & { files: Map<string, string> } {
  const files = new Map<string, string>();
  const sourceOf = (v: { id: string }) => `/mem/mnt/${v.id}/${v.id}`;
  return {
    files,
    sourceOf,
    async inject(v) {
      files.set(v.id, v.contentBase64);
      return { source: sourceOf(v) };
    },
    async remove(v) {
      files.delete(v.id);
    },
    async exists(v) {
      return files.has(v.id);
    },
  };
}
