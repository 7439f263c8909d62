// The cinder volume driver against RECORDED Cinder responses
// (test/fixtures/cinder) served by a loopback stub that walks a volume
// through Cinder's statuses. The device connector and the mount steps are
// fakes here (no iSCSI target exists); the real mount steps on a real device
// run in test/integration/volume-cinder.test.ts.
import { existsSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fixture, type HttpStub } from '../../../test/support/http-stub.js';
import { startCinderStub, type cinderApi } from '../../../test/support/cinder-stub.js';
import { createLogger } from '../../platform/log.js';
import { staticToken } from '../../openstack/openstack-http.js';
import { createCinderClient } from '../../openstack/cinder-client.js';
import { connectorProperties, createCinderDriver, type VolumeConnector } from './cinder.js';
import type { Mounter } from './host-commands.js';
import { createVolumeDriver, parseVolumeConfig } from './index.js';
import type { VolumeDriver, VolumeRef } from './types.js';

const log = createLogger('test', 'silent');
const HOST = 'compute-1';
const PROJECT = '89afd400-b646-4bbc-b12b-c0a4d63e5bd3';
const CINDER_ID = 'f7223234-1afc-4d19-bfa3-d19deb6235ef';
const ATTACHMENT = 'd8777f54-84cf-4809-a679-468ffed56cf1';
const CONTAINER = '3f6c2a1e-8d4b-4c5a-9e7f-1b2c3d4e5f60';
const VOL: VolumeRef = { id: '0b7c8a52-3f1e-4d2a-9c6b-5e4f3a2b1c0d', sizeGb: 1, providerId: CINDER_ID };
const ISCSI_DEVICE = `/dev/disk/by-path/ip-192.168.13.10:3260-iscsi-iqn.2010-10.org.openstack:volume-${CINDER_ID}-lun-0`;
const CONNECTOR = connectorProperties({ host: HOST, ip: '192.168.13.101', initiator: 'iqn.1994-05.com.redhat:d16cbb5d31e5' });

function fakeMounter() {
  const calls: string[] = [];
  const mounted = new Map<string, string>();
  const m: Mounter = {
    async mountsAt(mp) {
      const dev = mounted.get(mp);
      return dev ? [{ mountId: 1, majorMinor: '8:16', root: '/', mountPoint: mp, fsType: 'ext4', source: dev }] : [];
    },
    async fsType() {
      return 'ext4';
    },
    async ensureMounted(dev, mp) {
      calls.push(`mount ${dev} ${mp}`);
      mounted.set(mp, dev);
    },
    async ensureUnmounted(mp) {
      calls.push(`unmount ${mp}`);
      mounted.delete(mp);
    },
  };
  return { m, calls, mounted };
}

function fakeIscsi() {
  const calls: string[] = [];
  let failConnect = false;
  let failDisconnect = false;
  const c: VolumeConnector = {
    async connect(data) {
      calls.push(`connect ${String(data['target_iqn'])}`);
      if (failConnect) throw new Error('iscsiadm: No session found');
      return { path: ISCSI_DEVICE };
    },
    async disconnect(data) {
      calls.push(`disconnect ${String(data['target_iqn'])}`);
      if (failDisconnect) throw new Error('iscsiadm: logout failed');
    },
  };
  return { c, calls, failConnect: (v: boolean) => (failConnect = v), failDisconnect: (v: boolean) => (failDisconnect = v) };
}

describe('cinder volume driver (recorded Cinder responses)', () => {
  let stub: HttpStub;
  let api: { s: ReturnType<typeof cinderApi>['s'] };
  let stateDir: string;
  let mounter: ReturnType<typeof fakeMounter>;
  let iscsi: ReturnType<typeof fakeIscsi>;
  let driver: VolumeDriver;

  const actions = () =>
    stub.requests.filter((r) => r.path.endsWith('/action')).map((r) => Object.keys(r.body as object)[0]);
  const calls = () => stub.calls().map((c) => c.replace(`/v3/${PROJECT}`, ''));
  const actionBody = (name: string) => stub.requests.find((r) => r.path.endsWith('/action') && Object.keys(r.body as object)[0] === name)?.body;
  const newDriver = () =>
    createCinderDriver({
      cinder: createCinderClient({ endpoint: `${stub.url}/v3/${PROJECT}`, auth: staticToken('tok-9'), log }),
      host: HOST,
      stateDir,
      connector: CONNECTOR,
      mounter: mounter.m,
      log,
      connectors: { iscsi: iscsi.c },
      pollMs: 1,
      waitTimeoutMs: 2000,
    });

  beforeEach(async () => {
    const started = await startCinderStub({ project: PROJECT, volumeId: CINDER_ID, attachmentId: ATTACHMENT, name: `zun-${VOL.id}` });
    stub = started.stub;
    api = { s: started.state };
    stateDir = mkdtempSync(path.join(os.tmpdir(), 'zun-cinder-'));
    mounter = fakeMounter();
    iscsi = fakeIscsi();
    driver = newDriver();
  });

  afterEach(async () => {
    await stub.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('creates a volume with cinderclient\'s body and waits until it is available', async () => {
    const r = await driver.create({ id: VOL.id, sizeGb: 2 });
    expect(r).toEqual({ providerId: CINDER_ID });
    expect(calls()).toEqual([
      `GET /volumes/detail?name=zun-${VOL.id}`,
      'POST /volumes',
      `GET /volumes/${CINDER_ID}`,
      `GET /volumes/${CINDER_ID}`,
    ]);
    expect(stub.requests[1]!.body).toEqual({
      volume: {
        size: 2,
        consistencygroup_id: null,
        snapshot_id: null,
        name: `zun-${VOL.id}`,
        description: null,
        volume_type: null,
        availability_zone: null,
        metadata: {},
        imageRef: null,
        source_volid: null,
        backup_id: null,
      },
    });
    expect(stub.requests.every((q) => q.headers['x-auth-token'] === 'tok-9' && q.headers['openstack-api-version'] === 'volume 3.0')).toBe(true);
    // retried: found by name, not created twice
    await driver.create({ id: VOL.id, sizeGb: 2 });
    expect(calls().filter((c) => c === 'POST /volumes')).toHaveLength(1);
  });

  it('fails a create that ends in error status', async () => {
    api.s.createStatus = 'error';
    await expect(driver.create({ id: VOL.id, sizeGb: 1 })).rejects.toMatchObject({ code: 'CINDER_ERROR' });
  });

  it('attaches in Zun\'s order: reserve, initialize_connection, connect, attach; then mounts the device', async () => {
    api.s.exists = true;
    const { devicePath } = await driver.attach(VOL, { containerUuid: CONTAINER });
    expect(devicePath).toBe(ISCSI_DEVICE);
    expect(actions()).toEqual(['os-reserve', 'os-initialize_connection', 'os-attach']);
    expect(actionBody('os-reserve')).toEqual({ 'os-reserve': null });
    expect(actionBody('os-initialize_connection')).toEqual({ 'os-initialize_connection': { connector: CONNECTOR } });
    expect(CONNECTOR).toMatchObject({ host: HOST, os_type: 'linux', multipath: false, initiator: 'iqn.1994-05.com.redhat:d16cbb5d31e5' });
    expect(actionBody('os-attach')).toEqual({ 'os-attach': { mountpoint: ISCSI_DEVICE, mode: 'rw', instance_uuid: CONTAINER, host_name: HOST } });
    expect(iscsi.calls).toEqual([`connect iqn.2010-10.org.openstack:volume-${CINDER_ID}`]);
    expect(api.s.status).toBe('in-use');
    expect(existsSync(path.join(stateDir, 'cinder', `${VOL.id}.json`))).toBe(true);

    const { mountpoint } = await driver.mount(VOL);
    expect(mountpoint).toBe(path.join(stateDir, 'mnt', VOL.id));
    expect(mounter.calls).toEqual([`mount ${ISCSI_DEVICE} ${mountpoint}`]);
    expect(await driver.inspect(VOL)).toMatchObject({ exists: true, devices: [ISCSI_DEVICE], mounted: true, mountSource: ISCSI_DEVICE });
  });

  it('detaches in Zun\'s order: unmount, begin_detaching, disconnect, terminate_connection, detach(attachment)', async () => {
    api.s.exists = true;
    await driver.attach(VOL, { containerUuid: CONTAINER });
    await driver.mount(VOL);
    const before = stub.requests.length;
    await driver.detach(VOL, { containerUuid: CONTAINER });
    expect(calls().slice(before)).toEqual([
      `POST /volumes/${CINDER_ID}/action`,
      `POST /volumes/${CINDER_ID}/action`,
      `GET /volumes/${CINDER_ID}`,
      `POST /volumes/${CINDER_ID}/action`,
    ]);
    expect(actions().slice(-3)).toEqual(['os-begin_detaching', 'os-terminate_connection', 'os-detach']);
    expect(actionBody('os-begin_detaching')).toEqual({ 'os-begin_detaching': null });
    expect(actionBody('os-terminate_connection')).toEqual({ 'os-terminate_connection': { connector: CONNECTOR } });
    expect(actionBody('os-detach')).toEqual({ 'os-detach': { attachment_id: ATTACHMENT } });
    expect(mounter.calls.at(-1)).toBe(`unmount ${path.join(stateDir, 'mnt', VOL.id)}`);
    expect(iscsi.calls.at(-1)).toBe(`disconnect iqn.2010-10.org.openstack:volume-${CINDER_ID}`);
    expect(api.s.status).toBe('available');
    expect(existsSync(path.join(stateDir, 'cinder', `${VOL.id}.json`))).toBe(false);
    // again: Cinder refuses begin_detaching, the volume has no attachment of ours: done
    await expect(driver.detach(VOL, { containerUuid: CONTAINER })).resolves.toBeUndefined();
  });

  it('keeps the connection when another mapping on this host uses the volume', async () => {
    api.s.exists = true;
    await driver.attach(VOL, { containerUuid: CONTAINER });
    await driver.detach(VOL, { containerUuid: CONTAINER, keepConnection: true });
    expect(actions()).toEqual(['os-reserve', 'os-initialize_connection', 'os-attach', 'os-begin_detaching', 'os-detach']);
    expect(iscsi.calls.filter((c) => c.startsWith('disconnect'))).toEqual([]);
  });

  it('rolls the detach back when the device cannot be disconnected', async () => {
    api.s.exists = true;
    await driver.attach(VOL, { containerUuid: CONTAINER });
    iscsi.failDisconnect(true);
    await expect(driver.detach(VOL, { containerUuid: CONTAINER })).rejects.toThrow(/logout failed/);
    expect(actions().slice(-2)).toEqual(['os-begin_detaching', 'os-roll_detaching']);
    expect(api.s.status).toBe('in-use');
  });

  it('re-attaches after a restart from the saved connection info, without reserving again', async () => {
    api.s.exists = true;
    await driver.attach(VOL, { containerUuid: CONTAINER });
    const before = stub.requests.length;
    const restarted = newDriver();
    const { devicePath } = await restarted.attach(VOL, { containerUuid: CONTAINER });
    expect(devicePath).toBe(ISCSI_DEVICE);
    expect(calls().slice(before)).toEqual([`GET /volumes/${CINDER_ID}`]);
    await restarted.mount(VOL);
    expect(mounter.calls.at(-1)).toBe(`mount ${ISCSI_DEVICE} ${path.join(stateDir, 'mnt', VOL.id)}`);
  });

  it('finishes an attach that crashed between saving the connection and os-attach', async () => {
    api.s.exists = true;
    api.s.status = 'attaching';
    mkdirSync(path.join(stateDir, 'cinder'), { recursive: true });
    const info = fixture('cinder', 'initialize-connection-iscsi').connection_info;
    writeFileSync(
      path.join(stateDir, 'cinder', `${VOL.id}.json`),
      JSON.stringify({ providerId: CINDER_ID, containerUuid: CONTAINER, connectionInfo: { ...info, data: { ...info.data, device_path: ISCSI_DEVICE } }, devicePath: ISCSI_DEVICE }),
    );
    await driver.attach(VOL, { containerUuid: CONTAINER });
    expect(actions()).toEqual(['os-attach']);
    expect(api.s.status).toBe('in-use');
  });

  it('carries on from a reserve that a crash left behind', async () => {
    api.s.exists = true;
    api.s.status = 'attaching';
    await driver.attach(VOL, { containerUuid: CONTAINER });
    expect(actions()).toEqual(['os-reserve', 'os-initialize_connection', 'os-attach']);
    expect(api.s.status).toBe('in-use');
  });

  it('cleans up a failed os-attach: disconnect, terminate, detach, unreserve', async () => {
    api.s.exists = true;
    api.s.failAttach = true;
    await expect(driver.attach(VOL, { containerUuid: CONTAINER })).rejects.toMatchObject({ code: 'CINDER_ERROR' });
    expect(actions()).toEqual(['os-reserve', 'os-initialize_connection', 'os-attach', 'os-terminate_connection', 'os-detach', 'os-unreserve']);
    expect(iscsi.calls).toEqual([`connect iqn.2010-10.org.openstack:volume-${CINDER_ID}`, `disconnect iqn.2010-10.org.openstack:volume-${CINDER_ID}`]);
    expect(api.s.status).toBe('available');
    expect(existsSync(path.join(stateDir, 'cinder', `${VOL.id}.json`))).toBe(false);
  });

  it('cleans up a failed connect: terminate_connection, unreserve, no attach', async () => {
    api.s.exists = true;
    iscsi.failConnect(true);
    await expect(driver.attach(VOL, { containerUuid: CONTAINER })).rejects.toThrow(/No session found/);
    expect(actions()).toEqual(['os-reserve', 'os-initialize_connection', 'os-terminate_connection', 'os-unreserve']);
    expect(api.s.status).toBe('available');
  });

  it('refuses a connection type this host cannot connect', async () => {
    api.s.exists = true;
    api.s.connectionType = 'rbd';
    await expect(driver.attach(VOL, { containerUuid: CONTAINER })).rejects.toMatchObject({ code: 'UNSUPPORTED_CONNECTOR' });
    expect(actions()).toEqual(['os-reserve', 'os-initialize_connection', 'os-terminate_connection', 'os-unreserve']);
  });

  it('inspect of a volume never attached here finds its Cinder volume by name (a crash between create and attach)', async () => {
    const unrecorded = { id: VOL.id, sizeGb: 1 }; // no Cinder id in the log
    expect((await driver.inspect(unrecorded)).providerId).toBeNull(); // none in Cinder yet
    await driver.create(unrecorded);
    const fresh = newDriver(); // a restarted actor: no attachment state saved
    expect((await fresh.inspect(unrecorded)).providerId).toBe(CINDER_ID);
    expect(calls().filter((c) => c === `GET /volumes/detail?name=zun-${VOL.id}`)).toHaveLength(3);
  });

  it('mount before attach is NOT_ATTACHED', async () => {
    await expect(driver.mount(VOL)).rejects.toMatchObject({ code: 'NOT_ATTACHED' });
  });

  it('deletes and waits until the volume is gone; deleting a gone volume is fine', async () => {
    api.s.exists = true;
    await driver.delete(VOL);
    expect(calls()).toEqual([`DELETE /volumes/${CINDER_ID}`, `GET /volumes/${CINDER_ID}`, `GET /volumes/${CINDER_ID}`]);
    await driver.delete(VOL);
    expect(calls().slice(-2)).toEqual([`DELETE /volumes/${CINDER_ID}`, `GET /volumes/${CINDER_ID}`]);
  });

  it('is chosen by VOLUME_DRIVER=cinder', () => {
    expect(parseVolumeConfig({})).toEqual({ driver: 'local-block', stateDir: '/var/lib/zun' });
    const config = parseVolumeConfig({ VOLUME_DRIVER: 'cinder', CINDER_URL: `${stub.url}/v3/${PROJECT}`, OS_TOKEN: 't', STATE_DIR: stateDir });
    expect(config).toMatchObject({ driver: 'cinder', stateDir, blockStorageIp: '127.0.0.1' });
    expect(createVolumeDriver(config, { host: HOST, log }).volumes.kind).toBe('cinder');
    expect(() => parseVolumeConfig({ VOLUME_DRIVER: 'cinder' })).toThrow(/CINDER_URL/);
    expect(() => parseVolumeConfig({ VOLUME_DRIVER: 'nfs' })).toThrow(/local-block or cinder/);
  });
});
