/**
 * File injection: mounts of `type=bind` (microversion 1.23) carry the file's
 * content, base64-encoded, in `source`. Zun's Local volume driver
 * (zun/volume/driver.py) writes it to <volume_dir>/<uuid>/<uuid> and
 * bind-mounts that file at the destination; so does this, under
 * ${STATE_DIR}/mnt. The host actor adds `Binds: ["<source>:<destination>"]`.
 *
 * Idempotent: inject rewrites the same content in place (through a temporary
 * file and a rename, so a container never sees a half-written file); remove
 * of an absent volume is a no-op.
 */
import { chmod, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { VolumeError, VolumeErrorCode, assertSafeId } from './types.js';

export interface BindFileStore {
  /** Writes the decoded content; returns the host file to bind-mount. */
  inject(vol: { readonly id: string; readonly contentBase64: string }): Promise<{ source: string }>;
  /** Removes <mnt>/<id> (the file and its directory). */
  remove(vol: { readonly id: string }): Promise<void>;
  exists(vol: { readonly id: string }): Promise<boolean>;
  sourceOf(vol: { readonly id: string }): string;
}

/** Strict base64 (whitespace allowed), as Python's b64decode accepts it; null when invalid. */
export function decodeBase64(data: string): Buffer | null {
  const s = data.replace(/\s+/g, '');
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return null;
  return Buffer.from(s, 'base64');
}

export function createBindFileStore({ stateDir }: { stateDir: string }): BindFileStore {
  const dirOf = (id: string) => path.join(stateDir, 'mnt', id);
  const sourceOf = (vol: { readonly id: string }) => path.join(dirOf(vol.id), vol.id);
  return {
    sourceOf,
    async inject(vol) {
      assertSafeId(vol.id);
      const content = decodeBase64(vol.contentBase64);
      if (content === null) throw new VolumeError(VolumeErrorCode.invalid, `the content of bind volume ${vol.id} is not valid base64`);
      await mkdir(dirOf(vol.id), { recursive: true });
      const file = sourceOf(vol);
      const tmp = `${file}.tmp`;
      await writeFile(tmp, content);
      await chmod(tmp, 0o644); // readable by a container's non-root user, whatever the umask
      await rename(tmp, file);
      return { source: file };
    },
    async remove(vol) {
      assertSafeId(vol.id);
      await rm(dirOf(vol.id), { recursive: true, force: true });
    },
    async exists(vol) {
      assertSafeId(vol.id);
      return stat(sourceOf(vol)).then(
        (s) => s.isFile(),
        () => false,
      );
    },
  };
}
