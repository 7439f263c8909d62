/**
 * The host's registration in etcd: `zun/hosts/<hostname>` = HostRecord JSON,
 * attached to a lease (TTL ~10 s) that is kept alive while the actor lives.
 * Placement reads liveness from the key's existence: a lost lease is a lost
 * host.
 *
 * The registration heals itself: when etcd says the lease is gone (expired
 * while etcd or this process was away, or etcd lost its data), a new lease is
 * granted and the record put again; a watchdog also re-puts the record when
 * the key has vanished. stop() revokes the lease, so a clean shutdown takes
 * the host out of placement at once instead of after the TTL.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Etcd3, Lease } from 'etcd3';
import { HOST_SETTINGS_PREFIX, hostRegistryKey, type HostRecord } from '../../domain/host.js';
import type { Logger } from '../platform/log.js';
import type { ContainerRuntime } from './docker.js';

export const HOST_ACTOR_VERSION = '0.1.0';

/** A stable uuid for a host name (name-based, SHA-1, RFC 4122 version 5 layout). */
export function hostUuid(hostname: string): string {
  const h = createHash('sha1').update(`zun-host:${hostname}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/** GiB of the filesystem holding `dir` (or its nearest existing parent). */
export function diskGbAt(dir: string): number {
  let p = path.resolve(dir);
  for (;;) {
    try {
      const s = statfsSync(p);
      return Math.floor((s.blocks * s.bsize) / 1024 ** 3);
    } catch {
      const up = path.dirname(p);
      if (up === p) return 0;
      p = up;
    }
  }
}

export interface DescribeHostOptions {
  readonly hostname: string;
  readonly runtime: ContainerRuntime;
  readonly capacity: { readonly cpus: number | null; readonly memoryMiB: number | null; readonly diskGb: number | null };
  readonly labels: Readonly<Record<string, string>>;
  readonly availabilityZone: string;
  readonly stateDir: string;
  readonly startedAt: Date;
  readonly settings?: { readonly disabled: boolean; readonly disabledReason: string | null };
}

/** The HostRecord of this machine: capacity measured unless configured, the rest from Docker. */
export async function describeHost(o: DescribeHostOptions): Promise<HostRecord> {
  const info = await o.runtime.info();
  try {
    mkdirSync(o.stateDir, { recursive: true });
  } catch {
    // measured at the nearest existing parent instead
  }
  return {
    hostname: o.hostname,
    uuid: hostUuid(o.hostname),
    capacity: {
      cpus: o.capacity.cpus ?? os.cpus().length,
      memoryMiB: o.capacity.memoryMiB ?? Math.floor(os.totalmem() / (1024 * 1024)),
      diskGb: o.capacity.diskGb ?? diskGbAt(o.stateDir),
    },
    labels: { ...o.labels },
    availabilityZone: o.availabilityZone,
    runtimes: info.runtimes.length > 0 ? info.runtimes : ['runc'],
    version: HOST_ACTOR_VERSION,
    disabled: o.settings?.disabled ?? false,
    disabledReason: o.settings?.disabledReason ?? null,
    os: info.os,
    osType: info.osType,
    architecture: info.architecture,
    kernelVersion: info.kernelVersion,
    startedAt: o.startedAt.toISOString(),
  };
}

/** Operator settings (enable/disable) kept beside the registry, outliving the lease. */
export async function readHostSettings(etcd: Etcd3, hostname: string): Promise<{ disabled: boolean; disabledReason: string | null }> {
  const raw = await etcd.get(`${HOST_SETTINGS_PREFIX}${hostname}`).string();
  if (!raw) return { disabled: false, disabledReason: null };
  try {
    const v = JSON.parse(raw) as { disabled?: unknown; disabledReason?: unknown };
    return { disabled: v.disabled === true, disabledReason: typeof v.disabledReason === 'string' ? v.disabledReason : null };
  } catch {
    return { disabled: false, disabledReason: null };
  }
}

export interface HostRegistryOptions {
  readonly etcd: Etcd3;
  readonly hostname: string;
  readonly ttlSeconds: number;
  readonly log: Logger;
  /** Builds the record afresh at every (re-)registration. */
  readonly record: () => Promise<HostRecord>;
  /** How often the watchdog checks that the key is still there (default ttl / 2). */
  readonly checkEveryMs?: number;
}

export interface HostRegistry {
  /** Registers (retrying until etcd answers) and keeps the registration alive. */
  start(): Promise<void>;
  /** Revokes the lease: the key goes at once. */
  stop(): Promise<void>;
  /** The current lease id, null while not registered. */
  leaseId(): string | null;
}

export function createHostRegistry(o: HostRegistryOptions): HostRegistry {
  const key = hostRegistryKey(o.hostname);
  const log = o.log.child({ component: 'registry', key });
  let lease: Lease | null = null;
  let leaseId: string | null = null;
  let stopped = false;
  let loop: Promise<void> | null = null;
  let watchdog: NodeJS.Timeout | undefined;

  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

  async function registerOnce(): Promise<void> {
    const record = await o.record();
    const l = o.etcd.lease(o.ttlSeconds, { autoKeepAlive: true });
    l.on('lost', (err) => {
      if (stopped || lease !== l) return;
      log.warn({ err: err.message }, 'lease lost; registering again');
      lease = null;
      leaseId = null;
      void reregister();
    });
    try {
      const id = await l.grant();
      await l.put(key).value(JSON.stringify(record));
      lease = l;
      leaseId = id;
      log.info({ leaseId: id, ttl: o.ttlSeconds, capacity: record.capacity }, 'host registered');
    } catch (err) {
      l.release();
      throw err;
    }
  }

  function reregister(): Promise<void> {
    loop ??= (async () => {
      let delay = 250;
      while (!stopped && !lease) {
        try {
          await registerOnce();
        } catch (err) {
          log.warn({ err: (err as Error).message, retryInMs: delay }, 'registration failed');
          await sleep(delay);
          delay = Math.min(delay * 2, 5_000);
        }
      }
    })().finally(() => {
      loop = null;
    });
    return loop;
  }

  async function check(): Promise<void> {
    if (stopped) return;
    if (!lease) {
      void reregister();
      return;
    }
    const current = lease;
    try {
      const v = await o.etcd.get(key).string();
      if (v === null && lease === current && !stopped) {
        log.warn('registration vanished; registering again');
        lease = null;
        leaseId = null;
        current.release();
        void reregister();
      }
    } catch {
      // etcd unreachable: the lease's own keepalive decides whether it is lost
    }
  }

  return {
    async start() {
      stopped = false;
      await reregister();
      clearInterval(watchdog); // started again after a stop (docker-watchdog.ts)
      watchdog = setInterval(() => void check(), o.checkEveryMs ?? Math.max(500, (o.ttlSeconds * 1000) / 2));
      watchdog.unref();
    },
    async stop() {
      stopped = true;
      clearInterval(watchdog);
      const l = lease;
      lease = null;
      leaseId = null;
      if (l) {
        try {
          await l.revoke();
          log.info('host deregistered');
        } catch (err) {
          log.warn({ err: (err as Error).message }, 'lease revoke failed; the key expires with its TTL');
          l.release();
        }
      }
    },
    leaseId: () => leaseId,
  };
}
