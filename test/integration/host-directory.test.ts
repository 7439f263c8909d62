/**
 * The gateway's host directory against a real etcd: live registrations under
 * a lease, operator settings, the remembered services after the lease goes,
 * and forgetting one.
 */
import { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_SETTINGS_PREFIX, hostRegistryKey, type HostRecord } from '../../domain/host.js';
import { SERVICE_RECORD_PREFIX, createEtcdHostDirectory, isUp } from '../../services/gateway/host-directory.js';
import { startEtcd, type EtcdServer } from '../support/servers.js';

let server: EtcdServer;
let etcd: Etcd3;

const record = (hostname: string): HostRecord => ({
  hostname,
  uuid: '0a0a0a0a-1111-5222-8333-444444444444',
  capacity: { cpus: 2, memoryMiB: 2048, diskGb: 10 },
  labels: {},
  availabilityZone: 'az1',
  runtimes: ['runc'],
  version: '0.1.0',
  disabled: false,
  disabledReason: null,
  os: 'linux',
  osType: 'linux',
  architecture: 'x86_64',
  kernelVersion: '6',
  startedAt: '2026-01-01T00:00:00.000Z',
});

beforeAll(async () => {
  server = await startEtcd();
  etcd = new Etcd3({ hosts: server.endpoint });
});

afterAll(async () => {
  etcd?.close();
  await server?.stop();
});

describe('etcd host directory', () => {
  it('live while the lease lives, remembered (down) after; settings survive; forget removes both', async () => {
    const dir = createEtcdHostDirectory({ etcd, now: () => new Date(), log: pino({ level: 'silent' }) });
    const lease = etcd.lease(2, { autoKeepAlive: true });
    await lease.grant();
    await lease.put(hostRegistryKey('h1')).value(JSON.stringify(record('h1')));

    const [live] = await dir.list();
    expect(live).toMatchObject({ hostname: 'h1', registered: true, settings: { disabled: false, forcedDown: false } });
    expect(isUp(live!)).toBe(true);
    expect(live!.serviceId).toBeGreaterThan(0);
    expect(await etcd.get(`${SERVICE_RECORD_PREFIX}h1`).string()).toContain('"hostname":"h1"');

    await dir.updateSettings('h1', { disabled: true, disabledReason: 'maintenance' });
    expect(JSON.parse((await etcd.get(`${HOST_SETTINGS_PREFIX}h1`).string())!)).toEqual({ disabled: true, disabledReason: 'maintenance', forcedDown: false });
    // The live record is the host actor's: untouched; the entry shows the settings merged over it.
    expect(JSON.parse((await etcd.get(hostRegistryKey('h1')).string())!).disabled).toBe(false);
    expect((await dir.get('h1'))!.record).toMatchObject({ disabled: true, disabledReason: 'maintenance' });

    await dir.updateSettings('h1', { forcedDown: true });
    expect(isUp((await dir.get('h1'))!)).toBe(false);
    await dir.updateSettings('h1', { forcedDown: false });

    await lease.revoke();
    const down = await dir.get('h1');
    expect(down).toMatchObject({ hostname: 'h1', registered: false, serviceId: live!.serviceId, settings: { disabled: true } });
    expect(down!.record.availabilityZone).toBe('az1');
    expect(isUp(down!)).toBe(false);

    expect(await dir.forget('h1')).toBe(true);
    expect(await dir.list()).toEqual([]);
    expect(await etcd.get(`${HOST_SETTINGS_PREFIX}h1`).string()).toBeNull();
    expect(await dir.forget('h1')).toBe(false);
  });
});
