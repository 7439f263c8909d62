/**
 * VOLUME_DRIVER=cinder: Zun's Cinder volume driver (zun/volume/driver.py
 * Cinder, cinder_workflow.py, cinder_api.py), then the same mount steps as
 * local-block (host-commands.ts).
 *
 * Call order, as Zun's:
 *   create : POST /volumes, then GET until `available` (Zun's compute waits
 *            in _wait_for_volumes_available; 60 s, `error` fails)
 *   attach : os-reserve -> os-initialize_connection(connector) -> connect the
 *            device (os-brick) -> save connection info -> os-attach(mountpoint
 *            = device, host_name, instance_uuid = container). A failed connect
 *            terminates the connection; a failed os-attach disconnects,
 *            terminates and os-detaches; any failure then os-unreserves.
 *            Connection info saved earlier (a re-attach, e.g. after a host
 *            restart): connect from it, no reserve.
 *   mount  : blkid-guarded mkfs + mount at ${STATE_DIR}/mnt/<id>
 *   detach : unmount -> os-begin_detaching -> disconnect the device (on
 *            failure os-roll_detaching) -> os-terminate_connection ->
 *            GET volume for the attachment id -> os-detach(attachment_id).
 *            With keepConnection (another mapping on this host), no
 *            disconnect / terminate, as Zun's _volume_connection_keep.
 *   delete : DELETE /volumes/<id>, then GET until 404 (60 s)
 *
 * Zun keeps connection info in its database; this driver keeps it in
 * ${STATE_DIR}/cinder/<id>.json (written before os-attach, as Zun saves it
 * before attach), so a restarted host actor can reconnect and detach.
 *
 * Differences from Zun, for crash safety: create names the volume
 * `zun-<volume uuid>` (Zun sends name null) and first looks for a volume of
 * that name, so a retried create makes no second volume; a re-attach checks
 * Cinder and re-sends os-attach if a crash came between saving the
 * connection info and os-attach; os-reserve on a volume already `attaching`
 * (a crash after reserve) carries on; os-begin_detaching refused on a volume
 * with no attachment of ours counts as detached; `inspect` of a volume with
 * no Cinder id recorded or saved looks for it by name, so a volume that a
 * crash between create and the first attach left behind is still deleted.
 *
 * Device connectors: `local` (os-brick's LocalConnector: the device path is
 * in the connection data) is built in; others (iscsi, rbd, ...) are given as
 * `connectors`. Cinder does not run here: this driver is tested against
 * recorded Cinder responses only (test/fixtures/cinder/, README.md).
 */
import { arch } from 'node:os';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../platform/log.js';
import { OpenStackApiError, OpenStackErrorCode } from '../../openstack/openstack-http.js';
import { createKeyedLock } from '../network/types.js';
import type { CinderClient, CinderVolume, ConnectionInfo, ConnectorProperties } from '../../openstack/cinder-client.js';
import type { Mounter } from './host-commands.js';
import {
  VolumeError,
  VolumeErrorCode,
  assertSafeId,
  type AttachContext,
  type DetachContext,
  type VolumeDriver,
  type VolumeObservation,
  type VolumeRef,
} from './types.js';

/** os-brick: turns Cinder's connection data into a block device on this host, and back. */
export interface VolumeConnector {
  connect(data: Readonly<Record<string, unknown>>): Promise<{ path: string }>;
  disconnect(data: Readonly<Record<string, unknown>>): Promise<void>;
}

/** os-brick LocalConnector (driver_volume_type `local`): the device is already on the host. */
export const localConnector: VolumeConnector = {
  async connect(data) {
    const p = data['device_path'];
    if (typeof p !== 'string' || !p) throw new VolumeError(VolumeErrorCode.invalid, 'local connection info without device_path');
    return { path: p };
  },
  async disconnect() {},
};

/** os-brick get_connector_properties for this host (no multipath, no initiator unless given). */
export function connectorProperties({ host, ip, initiator }: { host: string; ip: string; initiator?: string | null }): ConnectorProperties {
  return {
    platform: arch() === 'x64' ? 'x86_64' : arch(),
    os_type: 'linux',
    ip,
    host,
    multipath: false,
    enforce_multipath: true,
    do_local_attach: false,
    ...(initiator ? { initiator } : {}),
  };
}

/** What this host remembers of an attachment (Zun: VolumeMapping.connection_info). */
interface AttachmentState {
  readonly providerId: string;
  readonly containerUuid: string | null;
  readonly connectionInfo: ConnectionInfo;
  readonly devicePath: string;
}

const isApi = (e: unknown, code: string): boolean => e instanceof OpenStackApiError && e.code === code;

export function createCinderDriver({
  cinder,
  host,
  stateDir,
  connector,
  mounter,
  log,
  connectors = {},
  waitTimeoutMs = 60_000,
  pollMs = 1000,
  sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
  now = () => Date.now(),
}: {
  cinder: CinderClient;
  /** CONF.host: host_name of the attachment. */
  host: string;
  stateDir: string;
  /** This host's connector properties (see connectorProperties). */
  connector: ConnectorProperties;
  mounter: Mounter;
  log: Logger;
  /** Extra connectors by driver_volume_type (lower case); `local` is built in. */
  connectors?: Readonly<Record<string, VolumeConnector>>;
  waitTimeoutMs?: number;
  pollMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}): VolumeDriver {
  const withLock = createKeyedLock();
  const byType: Record<string, VolumeConnector> = { local: localConnector, ...connectors };
  const stateFile = (id: string) => path.join(stateDir, 'cinder', `${id}.json`);
  const mountpointOf = (vol: Pick<VolumeRef, 'id'>) => path.join(stateDir, 'mnt', vol.id);
  const devices = new Map<string, string>();

  const cinderError = (what: string, e: unknown): VolumeError =>
    e instanceof VolumeError ? e : new VolumeError(isApi(e, OpenStackErrorCode.notFound) ? VolumeErrorCode.notFound : VolumeErrorCode.cinder, `${what}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });

  function connectorFor(info: ConnectionInfo): VolumeConnector {
    const c = byType[info.driver_volume_type.toLowerCase()];
    if (!c) throw new VolumeError(VolumeErrorCode.unsupportedConnector, `no connector for driver_volume_type ${info.driver_volume_type} on this host`);
    return c;
  }

  async function readState(id: string): Promise<AttachmentState | null> {
    try {
      return JSON.parse(await readFile(stateFile(id), 'utf8')) as AttachmentState;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  async function writeState(id: string, s: AttachmentState): Promise<void> {
    await mkdir(path.dirname(stateFile(id)), { recursive: true });
    const tmp = `${stateFile(id)}.tmp`;
    await writeFile(tmp, JSON.stringify(s), { mode: 0o600 });
    await rename(tmp, stateFile(id));
  }

  const providerIdOf = (vol: VolumeRef): string => {
    if (!vol.providerId) throw new VolumeError(VolumeErrorCode.invalid, `volume ${vol.id} has no Cinder volume id`);
    return vol.providerId;
  };

  /** Polls GET until `done` says so; 404 is passed to `done` as null. */
  async function waitFor(id: string, what: string, done: (v: CinderVolume | null) => boolean): Promise<void> {
    const deadline = now() + waitTimeoutMs;
    for (;;) {
      let v: CinderVolume | null;
      try {
        v = await cinder.getVolume(id);
      } catch (e) {
        if (!isApi(e, OpenStackErrorCode.notFound)) throw cinderError(`volume ${id}`, e);
        v = null;
      }
      if (done(v)) return;
      if (v && v.status.startsWith('error')) throw new VolumeError(VolumeErrorCode.cinder, `Cinder volume ${id} is in status ${v.status} while waiting until ${what}`);
      if (now() >= deadline) throw new VolumeError(VolumeErrorCode.timeout, `Cinder volume ${id} not ${what} after ${waitTimeoutMs} ms (status ${v?.status ?? 'gone'})`);
      await sleep(pollMs);
    }
  }

  const ourAttachment = (v: CinderVolume, containerUuid: string | null) =>
    v.attachments.find((a) => a.server_id === containerUuid && (a.host_name === null || a.host_name === host)) ??
    (containerUuid === null ? v.attachments.find((a) => a.host_name === host) : undefined);

  async function firstAttach(vol: VolumeRef, id: string, containerUuid: string | null): Promise<string> {
    try {
      await cinder.reserve(id);
    } catch (e) {
      // A crash after os-reserve leaves the volume `attaching`: carry on from there.
      const v = isApi(e, OpenStackErrorCode.badRequest) ? await cinder.getVolume(id).catch(() => null) : null;
      if (v?.status !== 'attaching') throw cinderError(`reserve volume ${id}`, e);
      log.warn({ volume: vol.id, cinderVolume: id }, 'volume already reserved (attaching); continuing the attach');
    }
    try {
      const info = await cinder.initializeConnection(id, connector);
      let devicePath: string;
      try {
        devicePath = (await connectorFor(info).connect(info.data)).path;
      } catch (e) {
        await cinder.terminateConnection(id, connector).catch((t: unknown) => log.error({ err: t, cinderVolume: id }, 'terminate_connection after a failed connect failed'));
        throw e;
      }
      // Saved before os-attach: Cinder moves to in-use and a detach needs this.
      const state: AttachmentState = { providerId: id, containerUuid, connectionInfo: { ...info, data: { ...info.data, device_path: devicePath } }, devicePath };
      await writeState(vol.id, state);
      try {
        await cinder.attach(id, { instanceUuid: containerUuid, mountpoint: devicePath, hostName: host });
      } catch (e) {
        await connectorFor(info).disconnect(state.connectionInfo.data).catch((d: unknown) => log.warn({ err: d }, 'disconnect after a failed attach failed'));
        await cinder.terminateConnection(id, connector).catch((t: unknown) => log.error({ err: t }, 'terminate_connection after a failed attach failed'));
        // Cinder may have completed the attach: detach too (ignored if it did not).
        await detachInCinder(id, containerUuid).catch((d: unknown) => log.error({ err: d }, 'detach after a failed attach failed'));
        await rm(stateFile(vol.id), { force: true });
        throw e;
      }
      log.info({ volume: vol.id, cinderVolume: id, device: devicePath }, 'cinder volume attached');
      return devicePath;
    } catch (e) {
      await cinder.unreserve(id).catch((u: unknown) => log.error({ err: u, cinderVolume: id }, 'unreserve after a failed attach failed'));
      throw cinderError(`attach volume ${id}`, e);
    }
  }

  /** cinder_api.detach: the attachment id of this container, then os-detach. */
  async function detachInCinder(id: string, containerUuid: string | null): Promise<void> {
    const v = await cinder.getVolume(id);
    const attachmentId = ourAttachment(v, containerUuid)?.attachment_id ?? null;
    if (attachmentId === null && v.multiattach) log.warn({ cinderVolume: id }, 'no attachment id for a multiattach volume; Cinder will probably refuse the detach');
    await cinder.detach(id, attachmentId);
  }

  async function unmountUnlocked(vol: VolumeRef): Promise<void> {
    await mounter.ensureUnmounted(mountpointOf(vol));
  }

  async function observe(vol: Pick<VolumeRef, 'id'> & { providerId?: string | null }): Promise<VolumeObservation> {
    const state = await readState(vol.id);
    const mp = mountpointOf(vol);
    const at = await mounter.mountsAt(mp);
    const dev = devices.get(vol.id) ?? state?.devicePath ?? null;
    return {
      id: vol.id,
      providerId: vol.providerId ?? state?.providerId ?? null,
      exists: state !== null,
      devices: dev ? [dev] : [],
      mountpoint: mp,
      mounted: at.length > 0,
      mountSource: at[at.length - 1]?.source ?? null,
    };
  }

  /** The Cinder volume this driver made for a volume, found by its name `zun-<id>` (null when there is none). */
  async function findByName(volId: string): Promise<string | null> {
    const name = `zun-${volId}`;
    return (await cinder.listVolumes({ name })).find((v) => v.name === name)?.id ?? null;
  }

  return {
    kind: 'cinder',
    mountpointOf,

    async create(vol) {
      assertSafeId(vol.id);
      return withLock(vol.id, async () => {
        let id: string;
        try {
          const existing = await findByName(vol.id);
          id = existing ?? (await cinder.createVolume({ size: vol.sizeGb, name: `zun-${vol.id}` })).id;
          if (existing === null) log.info({ volume: vol.id, cinderVolume: id, sizeGb: vol.sizeGb }, 'cinder volume created');
        } catch (e) {
          throw cinderError(`create volume ${vol.id}`, e);
        }
        await waitFor(id, 'available', (v) => v?.status === 'available' || v?.status === 'in-use');
        return { providerId: id };
      });
    },

    async attach(vol, ctx: AttachContext = {}) {
      assertSafeId(vol.id);
      return withLock(vol.id, async () => {
        const id = providerIdOf(vol);
        const containerUuid = ctx.containerUuid ?? null;
        const state = await readState(vol.id);
        if (state && state.providerId === id) {
          // A re-attach (Zun: volmap.connection_info is set): reconnect from the saved info.
          const { path: devicePath } = await connectorFor(state.connectionInfo).connect(state.connectionInfo.data);
          let v: CinderVolume;
          try {
            v = await cinder.getVolume(id);
          } catch (e) {
            throw cinderError(`volume ${id}`, e);
          }
          if (!ourAttachment(v, state.containerUuid)) {
            // A crash came between saving the state and os-attach.
            await cinder.attach(id, { instanceUuid: state.containerUuid, mountpoint: devicePath, hostName: host }).catch((e: unknown) => {
              throw cinderError(`attach volume ${id}`, e);
            });
          }
          if (devicePath !== state.devicePath) await writeState(vol.id, { ...state, devicePath });
          devices.set(vol.id, devicePath);
          return { devicePath };
        }
        const devicePath = await firstAttach(vol, id, containerUuid);
        devices.set(vol.id, devicePath);
        return { devicePath };
      });
    },

    async mount(vol) {
      assertSafeId(vol.id);
      return withLock(vol.id, async () => {
        const dev = devices.get(vol.id) ?? (await readState(vol.id))?.devicePath;
        if (!dev) throw new VolumeError(VolumeErrorCode.notAttached, `volume ${vol.id} is not attached on this host; attach it first`);
        const mp = mountpointOf(vol);
        await mounter.ensureMounted(dev, mp);
        return { mountpoint: mp };
      });
    },

    async unmount(vol) {
      assertSafeId(vol.id);
      return withLock(vol.id, () => unmountUnlocked(vol));
    },

    async detach(vol, ctx: DetachContext = {}) {
      assertSafeId(vol.id);
      return withLock(vol.id, async () => {
        const id = providerIdOf(vol);
        await unmountUnlocked(vol);
        const state = await readState(vol.id);
        const containerUuid = ctx.containerUuid ?? state?.containerUuid ?? null;
        try {
          await cinder.beginDetaching(id);
        } catch (e) {
          // Refused because it is not attached (any more): nothing left in Cinder for us.
          const v = isApi(e, OpenStackErrorCode.badRequest) ? await cinder.getVolume(id).catch(() => null) : null;
          if (!v || ourAttachment(v, containerUuid)) throw cinderError(`begin_detaching volume ${id}`, e);
          if (state) await connectorFor(state.connectionInfo).disconnect(state.connectionInfo.data);
          await rm(stateFile(vol.id), { force: true });
          devices.delete(vol.id);
          return;
        }
        try {
          if (!ctx.keepConnection) {
            if (state) {
              try {
                await connectorFor(state.connectionInfo).disconnect(state.connectionInfo.data);
              } catch (e) {
                await cinder.rollDetaching(id).catch((r: unknown) => log.error({ err: r }, 'roll_detaching failed'));
                throw e;
              }
            }
            await cinder.terminateConnection(id, connector);
          }
          await detachInCinder(id, containerUuid);
        } catch (e) {
          throw cinderError(`detach volume ${id}`, e);
        }
        await rm(stateFile(vol.id), { force: true });
        devices.delete(vol.id);
        log.info({ volume: vol.id, cinderVolume: id }, 'cinder volume detached');
      });
    },

    async delete(vol) {
      assertSafeId(vol.id);
      return withLock(vol.id, async () => {
        const id = providerIdOf(vol);
        try {
          await cinder.deleteVolume(id);
        } catch (e) {
          if (!isApi(e, OpenStackErrorCode.notFound)) throw cinderError(`delete volume ${id}`, e);
        }
        await waitFor(id, 'deleted', (v) => v === null);
        await rm(stateFile(vol.id), { force: true });
        log.info({ volume: vol.id, cinderVolume: id }, 'cinder volume deleted');
      });
    },

    async inspect(vol) {
      assertSafeId(vol.id);
      const seen = await observe(vol);
      if (seen.providerId !== null) return seen;
      // Neither the log nor this host's attachment state knows a Cinder id:
      // a crash between Cinder's create and the first attach leaves the
      // volume only in Cinder, under its name. Found, it can be deleted.
      let found: string | null;
      try {
        found = await findByName(vol.id);
      } catch (e) {
        throw cinderError(`look up volume ${vol.id}`, e);
      }
      return found === null ? seen : { ...seen, providerId: found };
    },

    async list() {
      let names: string[];
      try {
        names = await readdir(path.join(stateDir, 'cinder'));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw e;
      }
      return Promise.all(names.filter((n) => n.endsWith('.json')).map((n) => observe({ id: n.slice(0, -'.json'.length) })));
    },
  };
}
