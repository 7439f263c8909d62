/**
 * A Docker daemon that stops answering takes the host out of placement, and
 * back in when it answers again (services/host-actor/docker-watchdog.ts),
 * with the real registry on a real etcd and the real Docker client. The
 * daemon is a stand-in on a Unix socket: the real dockerd cannot be made to
 * deadlock on demand. Like dockerd 20.10 in moby/moby#46661 it holds
 * network requests unanswered while `/_ping` still answers; "restarting" it
 * drops the held connections.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostRegistryKey, type HostRecord } from '../../domain/host.js';
import { dockerClient } from '../../services/host-actor/docker.js';
import { watchDockerForRegistry } from '../../services/host-actor/docker-watchdog.js';
import { createHostRegistry } from '../../services/host-actor/registry.js';
import { waitFor } from '../support/cluster.js';
import { startEtcd, type EtcdServer } from '../support/servers.js';

const HOST = `it-dw-${process.pid}-${Date.now().toString(36)}`;
const dir = mkdtempSync(join(tmpdir(), 'zun-docker-watchdog-'));
const socketPath = join(dir, 'docker.sock');

let etcdServer: EtcdServer;
let etcd: Etcd3;
let daemon: http.Server;
let hanging = false;
const sockets = new Set<Socket>();
let networkRequests = 0;

beforeAll(async () => {
  etcdServer = await startEtcd();
  etcd = new Etcd3({ hosts: etcdServer.endpoint });
  daemon = http.createServer((req, res) => {
    if (req.url?.includes('/networks')) {
      networkRequests++;
      if (hanging) return; // held, as a deadlocked dockerd holds it
      res.setHeader('Content-Type', 'application/json');
      res.end('[]');
      return;
    }
    res.end('OK'); // /_ping and the rest
  });
  daemon.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => daemon.listen(socketPath, r));
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => daemon?.close(r));
  etcd?.close();
  await etcdServer?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const record = async (): Promise<HostRecord> => ({
  hostname: HOST, uuid: '00000000-0000-5000-8000-000000000000', capacity: { cpus: 1, memoryMiB: 1024, diskGb: 1 },
  labels: {}, availabilityZone: 'nova', runtimes: ['runc'], version: 'test', disabled: false, disabledReason: null,
  os: 'Debian', osType: 'linux', architecture: 'x86_64', kernelVersion: 'test', startedAt: new Date().toISOString(),
});
const registered = async () => (await etcd.get(hostRegistryKey(HOST)).string()) !== null;

describe('a Docker daemon that stops answering', () => {
  it('takes the host out of the registry until it answers again', async () => {
    const log = pino({ level: 'silent' });
    const registry = createHostRegistry({ etcd, hostname: HOST, ttlSeconds: 2, log, record });
    await registry.start();
    const dog = watchDockerForRegistry({ docker: dockerClient(socketPath), registry, everyMs: 100, hungAfterMs: 500, log });
    try {
      dog.start();
      await waitFor('probes answered', async () => networkRequests >= 3, 5_000, 20);
      expect(await registered()).toBe(true);
      expect(dog.hung()).toBe(false);

      hanging = true;
      await waitFor('the host withdrawn', async () => !(await registered()), 5_000, 50);
      expect(dog.hung()).toBe(true);
      const held = networkRequests;
      await new Promise((r) => setTimeout(r, 400));
      expect(networkRequests).toBe(held); // one unanswered probe, no pile-up
      expect(await registered()).toBe(false); // and the registry's own watchdog does not put it back

      // "Restart dockerd": it answers again, and the held connection drops.
      hanging = false;
      for (const s of sockets) s.destroy();
      await waitFor('the host registered again', registered, 5_000, 50);
      expect(dog.hung()).toBe(false);
    } finally {
      await dog.stop();
      await registry.stop();
    }
  });
});
